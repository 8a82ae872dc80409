module skiff.dev/plugins

go 1.26.0
