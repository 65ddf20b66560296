module github.com/collabd/collabd

go 1.25

require (
	github.com/coder/websocket v1.8.14
	go.etcd.io/bbolt v1.4.3
)

require golang.org/x/sys v0.29.0 // indirect
