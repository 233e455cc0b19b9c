// Command echo is Go's server for B9 (bench/README.md): the echo server a Go programmer writes
// with the standard library's net package, one goroutine per connection.
//
//	echo 127.0.0.1:0     # prints "listening on 127.0.0.1:PORT", echoes until killed
//
// The read/write loop is io.Copy's own generic path spelled out, with its 32 KiB buffer. The
// net package's example writes io.Copy(c, c), which on Linux takes the splice path and holds a
// pipe (two descriptors, and kernel buffers that RSS does not count) for as long as a
// connection waits: B9's 10,000 idle connections would need 30,000 descriptors, over the
// machine's hard limit of 20,000, and part-way through io.Copy would fall back to this loop.
// GOMAXPROCS comes from the environment (B9 sets 1); Go's net sets TCP_NODELAY by default.
package main

import (
	"fmt"
	"log"
	"net"
	"os"
)

func handle(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF when the client closes, or a reset
		}
	}
}

func main() {
	addr := "127.0.0.1:7000"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	for {
		conn, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go handle(conn)
	}
}
