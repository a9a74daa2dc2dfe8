package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The example configs in examples/configs are part of the documentation: they must load,
// validate and contain only well-formed probe specs.
func TestExampleConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../../examples/configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			s := defaultSettings()
			if err := loadConfig(data, &s); err != nil {
				t.Fatal(err)
			}
			if err := s.validate(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.parseSpecs(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
