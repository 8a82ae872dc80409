module skiff.dev/skiff

go 1.26.0
