module github.com/ossa-platform/platform

go 1.26.8
