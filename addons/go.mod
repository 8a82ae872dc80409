module skiff.dev/addons

go 1.26.0
