package config

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// Shell runs the commands written as one string.
const Shell = "/bin/sh"

// Command is a command the agent runs (snapshot.command, snapshot.freeze,
// snapshot.thaw), written either way:
//
//	command: mydb-ctl checkpoint --json          # a string: run as /bin/sh -c STRING
//	command: [mydb-ctl, checkpoint, --json]      # a list: the argv, run without a shell
//
// Decoded, it is always the argv: a string becomes [/bin/sh, -c, STRING].
// An empty string or list is no command.
type Command []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	argv, err := decodeCommand(n, false)
	*c = argv
	return err
}

// DirCommand is a command the agent runs with a directory appended as its
// last argument (snapshot.release). Written as a list, the directory is
// appended to it. Written as a string, the directory follows the string as
// one shell word, quoted, whatever characters it holds:
//
//	release: rm -rf        # runs /bin/sh -c 'rm -rf "$1"' sh DIR
//
// That is, the decoded argv is [/bin/sh, -c, STRING "$1", sh] and the
// directory, appended by the caller, becomes $1.
type DirCommand []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (c *DirCommand) UnmarshalYAML(n *yaml.Node) error {
	argv, err := decodeCommand(n, true)
	*c = argv
	return err
}

// decodeCommand turns a string or a list of strings into an argv.
func decodeCommand(n *yaml.Node, withDir bool) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return nil, nil
		}
		if withDir {
			return []string{Shell, "-c", n.Value + ` "$1"`, "sh"}, nil
		}
		return []string{Shell, "-c", n.Value}, nil
	case yaml.SequenceNode:
		var argv []string
		for _, item := range n.Content {
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a command's arguments must be strings", item.Line)
			}
			argv = append(argv, item.Value)
		}
		return argv, nil
	}
	return nil, fmt.Errorf("line %d: want a command string or a list of arguments", n.Line)
}
