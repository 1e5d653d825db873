module github.com/wdscapture/wdscapture

go 1.26
