module goppbench

go 1.19
