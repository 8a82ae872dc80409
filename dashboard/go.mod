module skiff.dev/dashboard

go 1.26.0
