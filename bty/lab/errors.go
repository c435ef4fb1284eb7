package lab

import (
	"errors"
	"fmt"
	"syscall"
)

// Kind is what kind of refusal an operation's error is. bty-web maps each
// kind to one HTTP status in one place, and its pages show the same
// message as its API.
type Kind int

// The kinds of errors operations return.
const (
	Internal  Kind = iota // the server failed: its database or its disk
	Malformed             // the request cannot be read
	Invalid               // well-formed, but it breaks a rule
	NotFound              // no such machine, image or file
	Conflict              // a name is taken, or the machine's state refuses it now
	TooLarge              // more bytes than the limit
	Full                  // the server's disk is full
	Forbidden             // a machine's report its live boot's token does not prove
	Upstream              // a machine's BMC refused, failed or did not answer
)

// Error is an operation's refusal: its kind and a message that says what
// was refused and how to fix it.
type Error struct {
	Kind Kind
	msg  string
	err  error
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the error the refusal wraps (a %w of its message).
func (e *Error) Unwrap() error { return e.err }

// Errorf makes a refusal of kind; %w in format wraps as fmt.Errorf does.
func Errorf(kind Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, msg: err.Error(), err: errors.Unwrap(err)}
}

// KindOf is the kind of a non-nil err: its own, else Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// storageError is a failure of the state dir: Full when the disk is full.
func storageError(err error, what string) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return Errorf(Full, "%s: the server's disk is full (%w)", what, err)
	}
	return Errorf(Internal, "%s: %w", what, err)
}
