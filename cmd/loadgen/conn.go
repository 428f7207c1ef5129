package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// conn is one worker's keep-alive HTTP/1.1 connection to the server. The
// worker writes a request and reads its answer on its own goroutine, one
// at a time, which is what a closed loop needs: net/http's client would
// spend two goroutines and a few channel operations on each request, CPU
// that the load generator takes from the server it measures on the same
// machine.
type conn struct {
	addr string // host:port, the server's loopback address

	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	// reused says that c has answered a request already, so that a
	// failure to read anything back may be the server closing it while
	// idle; unwatch stops closing c when the run's context ends.
	reused  bool
	unwatch func() bool
}

// graphqlPath is the server's GraphQL endpoint.
const graphqlPath = "/graphql"

// response is what post read: the status and the body, in the worker's
// buffer.
type response struct {
	status int
	body   []byte
}

// post sends body to the endpoint with the given headers (name, value)
// and reads the answer into buf. A connection the server closed while
// it was idle is redialled once, as net/http's client does: the server
// read nothing of that request.
func (k *conn) post(ctx context.Context, body []byte, buf *bytes.Buffer, headers ...string) (response, error) {
	for {
		reused := k.reused
		res, err := k.try(ctx, body, buf, headers)
		if err == nil {
			return res, nil
		}
		k.close()
		if !reused || !errors.Is(err, errNothingRead) || ctx.Err() != nil {
			return response{}, err
		}
	}
}

// errNothingRead is a connection that ended before its answer began.
var errNothingRead = errors.New("the connection closed before an answer")

func (k *conn) try(ctx context.Context, body []byte, buf *bytes.Buffer, headers []string) (response, error) {
	if k.c == nil {
		if err := k.dial(ctx); err != nil {
			return response{}, err
		}
	}
	if err := k.c.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return response{}, err
	}
	if err := ctx.Err(); err != nil {
		// After the deadline was set, so that a context ending from now
		// on cuts the exchange short (dial's watch).
		return response{}, err
	}
	k.bw.WriteString("POST " + graphqlPath + " HTTP/1.1\r\nHost: ")
	k.bw.WriteString(k.addr)
	k.bw.WriteString("\r\nContent-Type: application/json\r\nContent-Length: ")
	k.bw.WriteString(strconv.Itoa(len(body)))
	for i := 0; i+1 < len(headers); i += 2 {
		k.bw.WriteString("\r\n")
		k.bw.WriteString(headers[i])
		k.bw.WriteString(": ")
		k.bw.WriteString(headers[i+1])
	}
	k.bw.WriteString("\r\n\r\n")
	k.bw.Write(body)
	if err := k.bw.Flush(); err != nil {
		return response{}, err
	}
	if _, err := k.br.Peek(1); err != nil {
		return response{}, fmt.Errorf("%w: %v", errNothingRead, err)
	}
	res, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return response{}, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return response{}, err
	}
	if res.Close {
		k.close()
	} else {
		k.reused = true
	}
	return response{status: res.StatusCode, body: buf.Bytes()}, nil
}

// dial opens the connection; when ctx ends, the connection's deadline
// passes, so that an exchange under way fails at once.
func (k *conn) dial(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", k.addr)
	if err != nil {
		return err
	}
	k.c = c
	k.unwatch = context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	if k.br == nil {
		k.br, k.bw = bufio.NewReaderSize(c, 16<<10), bufio.NewWriterSize(c, 16<<10)
	} else {
		k.br.Reset(c)
		k.bw.Reset(c)
	}
	return nil
}

// close closes the connection, if it is open; the next post dials anew.
func (k *conn) close() {
	if k.c == nil {
		return
	}
	k.unwatch()
	k.c.Close()
	k.c, k.reused = nil, false
}
