package db

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
)

// countingConn counts the reads of its connection.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// A result of 20 KB that has arrived is taken in by one read of the socket, where lib/pq's own 4 KiB
// buffer took five.
func TestBufferedConnReadsWhatHasArrivedAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	result := bytes.Repeat([]byte("0123456789"), 2000)
	for _, buffered := range []bool{false, true} {
		sent := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				defer c.Close()
				_, err = c.Write(result) // on loopback, in the client's socket when Write returns
			}
			sent <- err
			io.Copy(io.Discard, c)
		}()
		raw, err := bufferedDialer{}.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		under := &countingConn{Conn: raw.(*bufferedConn).Conn}
		var c net.Conn = under
		if buffered {
			c = newBufferedConn(under)
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		var got []byte
		r, row := bufio.NewReader(c), make([]byte, 100)
		for len(got) < len(result) { // as lib/pq reads: a message at a time, through 4 KiB
			if _, err := io.ReadFull(r, row); err != nil {
				t.Fatal(err)
			}
			got = append(got, row...)
		}
		c.Close()
		if !bytes.Equal(got, result) {
			t.Fatal("read other bytes than were sent")
		}
		want := len(result)/4096 + 1
		if buffered {
			want = 1
		}
		if under.reads != want {
			t.Errorf("buffered %v: %d reads of the socket, want %d", buffered, under.reads, want)
		}
	}
}
