package main

import (
	"errors"

	"github.com/kretspan/kretspan/argspec"
)

// userParams describes a user-space function's parameters.
func userParams(binary, symbol string) ([]argspec.Param, error) {
	return nil, errors.New("arguments of user-space functions (uprobe) are not supported yet")
}
