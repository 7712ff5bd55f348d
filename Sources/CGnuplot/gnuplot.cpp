// The one place tsrec talks to gnuplot: the script goes down a pipe opened by gnuplot-iostream.
#include "cgnuplot.h"
#include <gnuplot-iostream.h>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

extern "C" int tsrec_gnuplot_run(const char *script, char *error, unsigned long errorCapacity) {
    auto fail = [&](const std::string &message) {
        if (error && errorCapacity > 0) {
            std::snprintf(error, errorCapacity, "%s", message.c_str());
        }
        return 1;
    };
    try {
        // Without -persist: the process exits once the script ends, so output files are complete on return.
        Gnuplot gp("gnuplot");
        gp << script << "\n";
        gp.flush();
        // The destructor closes the pipe and waits for gnuplot to finish writing.
    } catch (const std::exception &e) {
        return fail(std::string("gnuplot-iostream: ") + e.what());
    }
    return 0;
}
