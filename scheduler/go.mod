module skiff.dev/scheduler

go 1.26.0
