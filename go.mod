module github.com/collabd/collabd

go 1.25
