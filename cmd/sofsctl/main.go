// Command sofsctl administers a sofs cluster through its REST API.
//
//	sofsctl [global flags] COMMAND [ARGS] [flags]
//
// Exit codes: 0 success, 1 server or API error (including a refused
// connection), 2 usage error, 3 authentication failure, 4 not found.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Exit codes; scripts rely on them.
const (
	exitOK       = 0
	exitAPI      = 1
	exitUsage    = 2
	exitAuth     = 3
	exitNotFound = 4
)

// defaultAPI is sofsd's default api-listen.
const defaultAPI = "http://127.0.0.1:4480"

func main() {
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr))
}

const usageText = `Usage: sofsctl [global flags] COMMAND [ARGS] [flags]

Commands:
  cluster                      show the cluster record
  node list                    list nodes
  node show ID                 show one node
  node drain ID [--wait] [--max-wait D]
                               drain a node: readiness false, new SMB connections refused, its
                               connections dropped so clients reconnect through other nodes, and
                               its durable and persistent handles handed over to the other nodes;
                               its witness clients are told to move (CLIENT_MOVE, with
                               --witness-listen); --wait returns once it holds no open files
  node remove ID               remove a drained or dead node
  share list                   list shares
  share show NAME              show one share
  share create NAME --path P [--comment C] [--ca] [--encrypt] [--readonly] [--guest] [--abe]
                    [--allow ACCOUNT:RIGHT]... [--deny ACCOUNT:RIGHT]...
  share update NAME [--path P] [--comment C] [--ca=BOOL] [--encrypt=BOOL] [--readonly=BOOL] [--guest=BOOL] [--abe=BOOL]
                    [--allow ACCOUNT:RIGHT]... [--deny ACCOUNT:RIGHT]...  (replace the share permissions)
                               change only the given settings
  share delete NAME            delete a share (its files stay)
  user list                    list users
  user create NAME (--password-stdin | --password P)
  user passwd NAME (--password-stdin | --password P)
  user delete NAME             delete a user
  session list                 list this node's SMB sessions
  openfile list                list this node's open files
  witness list                 list the cluster's SMB Witness clients (Get-SmbWitnessClient)
  witness move ID --node N     ask a witness client to move to node N (Move-SmbWitnessClient)
  witness move-share NAME --node N [--client C]
                               ask the witness clients of share NAME (or only
                               client C's) to move it to node N (SHARE_MOVE)
  volume list                  list the cluster shared volumes and whether this node verified each
  volume create NAME --path P  register a cluster shared volume mounted at P on every node
  token create [--ttl D]       create a single-use join token for a new node (default ttl 15m, at most 24h);
                               prints the token only (-o json adds its id and expiry)

Global flags (anywhere after the command, or before it):
  --api URL          API address (env SOFS_API; default ` + defaultAPI + `)
  --token T          bearer token (env SOFS_TOKEN)
  --token-file F     read the token from F, e.g. DATA/api-token (env SOFS_TOKEN_FILE)
  --cacert F         PEM CA bundle to trust for an https API (env SOFS_CACERT)
  -o, --output FMT   table (default) or json
  --timeout D        request timeout (default 30s)

--password puts the password in the process list; prefer --password-stdin.

Exit codes: 0 ok, 1 server/API error, 2 usage, 3 authentication failure, 4 not found.
`

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

var errHelp = errors.New("help")

// globals are the flags every command accepts.
type globals struct {
	api, token, tokenFile, cacert, output string
	timeout                               time.Duration
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.api, "api", g.api, "")
	fs.StringVar(&g.token, "token", g.token, "")
	fs.StringVar(&g.tokenFile, "token-file", g.tokenFile, "")
	fs.StringVar(&g.cacert, "cacert", g.cacert, "")
	fs.StringVar(&g.output, "o", g.output, "")
	fs.StringVar(&g.output, "output", g.output, "")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "")
}

// cli is one invocation.
type cli struct {
	g      globals
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	client *client
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments; everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, tail...), nil
}

// parseLeading parses global flags up to the first positional argument
// and returns the rest.
func (c *cli) parseLeading(args []string) ([]string, error) {
	fs := newFlagSet("sofsctl")
	c.g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, usagef("%v", err)
	}
	return fs.Args(), nil
}

func run(args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	env := func(k string) string { v, _ := lookupEnv(k); return v }
	c := &cli{
		g: globals{
			api: env("SOFS_API"), token: env("SOFS_TOKEN"), tokenFile: env("SOFS_TOKEN_FILE"),
			cacert: env("SOFS_CACERT"), output: "table", timeout: 30 * time.Second,
		},
		stdin: stdin, stdout: stdout, stderr: stderr,
	}
	if c.g.api == "" {
		c.g.api = defaultAPI
	}
	err := c.dispatch(args)
	var ue *usageError
	var ae *apiError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usageText)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "sofsctl: %s\nRun 'sofsctl --help' for usage.\n", ue.msg)
		return exitUsage
	case errors.As(err, &ae):
		if c.g.output == "json" && len(ae.body) > 0 {
			writeIndented(stderr, ae.body)
		} else {
			fmt.Fprintf(stderr, "sofsctl: %s\n", ae.Error())
		}
		switch ae.status {
		case 401, 403:
			return exitAuth
		case 404:
			return exitNotFound
		}
		return exitAPI
	default:
		fmt.Fprintf(stderr, "sofsctl: %v\n", err)
		return exitAPI
	}
}

// leaf is a command with its own flags.
type leaf struct {
	nargs int    // positional arguments wanted
	args  string // their names, for messages
	flags func(*flag.FlagSet)
	run   func(c *cli, fs *flag.FlagSet, pos []string) error
}

func (c *cli) dispatch(args []string) error {
	args, err := c.parseLeading(args)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return usagef("no command given")
	}
	noun := args[0]
	if noun == "help" {
		return errHelp
	}
	verbs, ok := commands[noun]
	if !ok {
		return usagef("unknown command %q", noun)
	}
	args, err = c.parseLeading(args[1:])
	if err != nil {
		return err
	}
	verb := ""
	if len(args) > 0 {
		verb, args = args[0], args[1:]
	}
	if _, one := verbs[""]; one && (verb == "" || verb == "show") {
		verb = ""
	} else if verb == "" {
		return usagef("%s: a subcommand is needed: %s", noun, verbList(verbs))
	}
	l, ok := verbs[verb]
	if !ok {
		return usagef("%s: unknown subcommand %q; want %s", noun, verb, verbList(verbs))
	}
	fs := newFlagSet(noun + " " + verb)
	c.g.register(fs)
	if l.flags != nil {
		l.flags(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(noun + " " + verb)
	if len(pos) != l.nargs {
		if l.nargs == 0 {
			return usagef("%s takes no arguments, got %q", name, pos)
		}
		return usagef("%s wants %s", name, l.args)
	}
	for i, p := range pos {
		if p == "" {
			return usagef("%s: argument %d is empty", name, i+1)
		}
	}
	if c.g.output != "table" && c.g.output != "json" {
		return usagef("-o must be table or json, not %q", c.g.output)
	}
	if c.client, err = newClient(c.g); err != nil {
		return err
	}
	return l.run(c, fs, pos)
}

func verbList(verbs map[string]leaf) string {
	var out []string
	for _, v := range []string{"list", "show", "create", "update", "passwd", "drain", "remove", "delete"} {
		if _, ok := verbs[v]; ok {
			out = append(out, v)
		}
	}
	return strings.Join(out, ", ")
}

// readPassword takes the password from --password or one line of stdin.
func (c *cli) readPassword(fs *flag.FlagSet) (string, error) {
	pw := fs.Lookup("password").Value.String()
	fromStdin := fs.Lookup("password-stdin").Value.String() == "true"
	switch {
	case pw != "" && fromStdin:
		return "", usagef("give --password or --password-stdin, not both")
	case pw != "":
		return pw, nil
	case !fromStdin:
		return "", usagef("a password is needed: --password-stdin (recommended) or --password")
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("no password on standard input")
	}
	return line, nil
}

func passwordFlags(fs *flag.FlagSet) {
	fs.String("password", "", "")
	fs.Bool("password-stdin", false, "")
}
