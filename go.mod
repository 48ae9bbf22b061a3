module github.com/walship/walship

go 1.26.8
