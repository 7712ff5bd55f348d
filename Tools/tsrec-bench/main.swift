import TSRec
print(BLAS.summary)
