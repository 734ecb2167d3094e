// Package noreturn holds fixtures for paths that end without returning.
package noreturn

import (
	"errors"
	"log"
	"os"
	"runtime"
)

type call struct{}

type Client struct {
	pending map[string]*call
}

func send(id string) error { return nil }

func (c *Client) drop(id string) { delete(c.pending, id) }

// must never returns when err != nil... and always panics here.
func fatal(err error) {
	panic(err)
}

// clean: the failing path panics.
func (c *Client) panics(id string) error {
	c.pending[id] = &call{}
	if err := send(id); err != nil {
		panic(err)
	}
	return nil
}

// clean: the failing path calls log.Fatal.
func (c *Client) logFatal(id string) error {
	c.pending[id] = &call{}
	if err := send(id); err != nil {
		log.Fatalf("send: %v", err)
	}
	return nil
}

// clean: the failing path exits.
func (c *Client) exits(id string) error {
	c.pending[id] = &call{}
	if err := send(id); err != nil {
		os.Exit(1)
	}
	return nil
}

// clean: the failing path ends in a package helper that never returns.
func (c *Client) helperNoReturn(id string) error {
	c.pending[id] = &call{}
	if err := send(id); err != nil {
		fatal(err)
	}
	return nil
}

// clean: the failing path ends the goroutine.
func (c *Client) goexit(id string) error {
	c.pending[id] = &call{}
	if err := send(id); err != nil {
		runtime.Goexit()
	}
	return nil
}

// A path that logs and returns is a return path.
func (c *Client) logs(id string) error {
	c.pending[id] = &call{} // want `pending\[id\] is not deleted when returning at noreturn.go:76 \(error path\)`
	if err := send(id); err != nil {
		log.Printf("send: %v", err)
		return err
	}
	return errors.New("unused")
}
