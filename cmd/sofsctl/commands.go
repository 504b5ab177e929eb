package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sofs.io/sofs/adminapi"
)

// commands maps noun and verb to the command; a noun whose only verb is
// "" (cluster) runs without one (or with "show").
var commands = map[string]map[string]leaf{
	"cluster": {
		"": {run: (*cli).clusterShow},
	},
	"node": {
		"list": {run: (*cli).nodeList},
		"show": {nargs: 1, args: "a node ID", run: (*cli).nodeShow},
		"drain": {nargs: 1, args: "a node ID", flags: func(fs *flag.FlagSet) {
			fs.Bool("wait", false, "")
			fs.Duration("max-wait", 10*time.Minute, "")
		}, run: (*cli).nodeDrain},
		"remove": {nargs: 1, args: "a node ID", run: (*cli).nodeRemove},
	},
	"share": {
		"list":   {run: (*cli).shareList},
		"show":   {nargs: 1, args: "a share NAME", run: (*cli).shareShow},
		"create": {nargs: 1, args: "a share NAME", flags: shareFlags, run: (*cli).shareCreate},
		"update": {nargs: 1, args: "a share NAME", flags: shareFlags, run: (*cli).shareUpdate},
		"delete": {nargs: 1, args: "a share NAME", run: (*cli).shareDelete},
	},
	"user": {
		"list":   {run: (*cli).userList},
		"create": {nargs: 1, args: "a user NAME", flags: passwordFlags, run: (*cli).userCreate},
		"passwd": {nargs: 1, args: "a user NAME", flags: passwordFlags, run: (*cli).userPasswd},
		"delete": {nargs: 1, args: "a user NAME", run: (*cli).userDelete},
	},
	"session": {
		"list": {run: (*cli).sessionList},
	},
	"openfile": {
		"list": {run: (*cli).openFileList},
	},
	"witness": {
		"list": {run: (*cli).witnessList},
		"move": {nargs: 1, args: "a witness client ID", flags: func(fs *flag.FlagSet) { fs.String("node", "", "") }, run: (*cli).witnessMove},
		"move-share": {nargs: 1, args: "a share NAME", flags: func(fs *flag.FlagSet) {
			fs.String("node", "", "")
			fs.String("client", "", "")
		}, run: (*cli).witnessMoveShare},
	},
	"volume": {
		"list":   {run: (*cli).volumeList},
		"create": {nargs: 1, args: "a volume NAME", flags: func(fs *flag.FlagSet) { fs.String("path", "", "") }, run: (*cli).volumeCreate},
	},
	"token": {
		"create": {flags: func(fs *flag.FlagSet) { fs.Duration("ttl", adminapi.DefaultJoinTokenTTL, "") }, run: (*cli).tokenCreate},
	},
}

func init() {
	// Plural and dashed spellings people type.
	commands["nodes"] = commands["node"]
	commands["shares"] = commands["share"]
	commands["users"] = commands["user"]
	commands["sessions"] = commands["session"]
	commands["openfiles"] = commands["openfile"]
	commands["open-file"] = commands["openfile"]
	commands["open-files"] = commands["openfile"]
	commands["tokens"] = commands["token"]
	commands["volumes"] = commands["volume"]
}

func (c *cli) json() bool { return c.g.output == "json" }

// emit prints an answer: the API's JSON, indented, with -o json, or what
// table prints otherwise.
func (c *cli) emit(raw []byte, table func(w io.Writer)) error {
	if c.json() {
		if len(raw) > 0 {
			writeIndented(c.stdout, raw)
		}
		return nil
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func writeIndented(w io.Writer, raw []byte) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		w.Write(raw)
		return
	}
	buf.WriteByte('\n')
	w.Write(buf.Bytes())
}

// say prints a confirmation in table mode; -o json prints the API's
// answer instead (nothing for a 204).
func (c *cli) say(raw []byte, format string, args ...any) error {
	if c.json() {
		if len(raw) > 0 {
			writeIndented(c.stdout, raw)
		}
		return nil
	}
	_, err := fmt.Fprintf(c.stdout, format+"\n", args...)
	return err
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clean keeps a table row on one line whatever a field holds.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

// ---- cluster and nodes ----

func (c *cli) clusterShow(fs *flag.FlagSet, _ []string) error {
	var ci adminapi.ClusterInfo
	raw, err := c.client.do("GET", "/cluster", nil, &ci)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintf(w, "Name:\t%s\n", clean(ci.Name))
		fmt.Fprintf(w, "Server GUID:\t%s\n", ci.ServerGUID)
		fmt.Fprintf(w, "Answering node:\t%s\n", clean(ci.Node))
		fmt.Fprintf(w, "Nodes:\t%d\n", ci.Nodes)
		fmt.Fprintf(w, "Shares:\t%d\n", ci.Shares)
		fmt.Fprintf(w, "Users:\t%d\n", ci.Users)
		fmt.Fprintf(w, "Namespace revision:\t%d\n", ci.NamespaceRevision)
	})
}

func nodeRow(n adminapi.NodeInfo) string {
	id := n.ID
	if n.Self {
		id += " *"
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", clean(id), clean(n.State), yesNo(n.Ready),
		orDash(clean(strings.Join(n.SMBAddresses, ","))), orDash(clean(n.APIAddress)), orDash(clean(n.Version)))
}

const nodeHeader = "ID\tSTATE\tREADY\tSMB ADDRESSES\tAPI ADDRESS\tVERSION"

func (c *cli) nodeList(fs *flag.FlagSet, _ []string) error {
	var nl adminapi.NodeList
	raw, err := c.client.do("GET", "/nodes", nil, &nl)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, nodeHeader)
		for _, n := range nl.Nodes {
			fmt.Fprintln(w, nodeRow(n))
		}
	})
}

func (c *cli) nodeShow(fs *flag.FlagSet, pos []string) error {
	var n adminapi.NodeInfo
	raw, err := c.client.do("GET", "/nodes/"+seg(pos[0]), nil, &n)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintf(w, "ID:\t%s\n", clean(n.ID))
		fmt.Fprintf(w, "Name:\t%s\n", orDash(clean(n.Name)))
		fmt.Fprintf(w, "State:\t%s\n", clean(n.State))
		fmt.Fprintf(w, "Ready:\t%s\n", yesNo(n.Ready))
		fmt.Fprintf(w, "This node:\t%s\n", yesNo(n.Self))
		fmt.Fprintf(w, "SMB addresses:\t%s\n", orDash(clean(strings.Join(n.SMBAddresses, ", "))))
		fmt.Fprintf(w, "API address:\t%s\n", orDash(clean(n.APIAddress)))
		fmt.Fprintf(w, "Version:\t%s\n", orDash(clean(n.Version)))
		if n.StartedAt != nil {
			fmt.Fprintf(w, "Started:\t%s\n", stamp(*n.StartedAt))
		}
	})
}

func (c *cli) nodeDrain(fs *flag.FlagSet, pos []string) error {
	raw, err := c.client.do("POST", "/nodes/"+seg(pos[0])+"/drain", nil, nil)
	if err != nil {
		return err
	}
	if fs.Lookup("wait").Value.String() != "true" {
		return c.say(raw, "node %s is draining", clean(pos[0]))
	}
	timeout, _ := time.ParseDuration(fs.Lookup("max-wait").Value.String())
	return c.waitDrained(pos[0], timeout)
}

// drainPoll is how often `node drain --wait` looks at what the node holds.
const drainPoll = 500 * time.Millisecond

// waitDrained polls the cluster's open files until node id holds none
// (connected or waiting for its client), printing progress when it
// changes, for at most timeout.
func (c *cli) waitDrained(id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := -1
	for {
		var ol adminapi.OpenFileList
		if _, err := c.client.do("GET", "/open-files", nil, &ol); err != nil {
			return err
		}
		held := 0
		for _, f := range ol.OpenFiles {
			if f.Node == id {
				held++
			}
		}
		if held == 0 {
			return c.say(nil, "node %s is drained: it holds no open files", clean(id))
		}
		if held != last && !c.json() {
			fmt.Fprintf(c.stdout, "node %s is draining: %d open files left\n", clean(id), held)
			last = held
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s still holds %d open files after %v", clean(id), held, timeout)
		}
		time.Sleep(drainPoll)
	}
}

func (c *cli) nodeRemove(fs *flag.FlagSet, pos []string) error {
	raw, err := c.client.do("DELETE", "/nodes/"+seg(pos[0]), nil, nil)
	if err != nil {
		return err
	}
	return c.say(raw, "node %s removed", clean(pos[0]))
}

// ---- shares ----

func shareFlags(fs *flag.FlagSet) {
	fs.String("path", "", "")
	fs.String("comment", "", "")
	fs.Bool("ca", false, "")
	fs.Bool("encrypt", false, "")
	fs.Bool("readonly", false, "")
	fs.Bool("guest", false, "")
	fs.Bool("abe", false, "")
	fs.Var(&permFlag{}, "allow", "")
	fs.Var(&permFlag{deny: true}, "deny", "")
}

// permFlag collects repeated --allow/--deny ACCOUNT:RIGHT share permissions.
type permFlag struct {
	deny  bool
	perms []adminapi.SharePermission
}

func (p *permFlag) String() string { return "" }

func (p *permFlag) Set(v string) error {
	account, access, ok := strings.Cut(v, ":")
	if !ok || account == "" || access == "" {
		return fmt.Errorf("want ACCOUNT:RIGHT (RIGHT is read, change or full), got %q", v)
	}
	p.perms = append(p.perms, adminapi.SharePermission{Account: account, Access: access, Deny: p.deny})
	return nil
}

// permissions returns the --allow and --deny entries, deny first.
func permissions(fs *flag.FlagSet) []adminapi.SharePermission {
	deny := fs.Lookup("deny").Value.(*permFlag).perms
	allow := fs.Lookup("allow").Value.(*permFlag).perms
	return append(append([]adminapi.SharePermission(nil), deny...), allow...)
}

func (c *cli) shareList(fs *flag.FlagSet, _ []string) error {
	var sl adminapi.ShareList
	raw, err := c.client.do("GET", "/shares", nil, &sl)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, "NAME\tPATH\tCA\tENCRYPT\tREADONLY\tGUEST\tCOMMENT")
		for _, s := range sl.Shares {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(s.Name), clean(s.Path), yesNo(s.ContinuouslyAvailable),
				yesNo(s.EncryptData), yesNo(s.ReadOnly), yesNo(s.Guest), clean(s.Comment))
		}
		// Refused records are shown, not hidden: an operator must act.
		for _, r := range sl.Refused {
			fmt.Fprintf(w, "%s\t%s\tREFUSED: %s\n", clean(r.Name), orDash(clean(r.Path)), clean(r.Reason))
		}
	})
}

func (c *cli) printShare(raw []byte, s adminapi.Share) error {
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintf(w, "Name:\t%s\n", clean(s.Name))
		fmt.Fprintf(w, "Path:\t%s\n", clean(s.Path))
		fmt.Fprintf(w, "Comment:\t%s\n", clean(s.Comment))
		fmt.Fprintf(w, "Continuously available:\t%s\n", yesNo(s.ContinuouslyAvailable))
		fmt.Fprintf(w, "Encrypt data:\t%s\n", yesNo(s.EncryptData))
		fmt.Fprintf(w, "Read-only:\t%s\n", yesNo(s.ReadOnly))
		fmt.Fprintf(w, "Guest access:\t%s\n", yesNo(s.Guest))
		fmt.Fprintf(w, "Access-based enum:\t%s\n", yesNo(s.AccessBasedEnumeration))
		perms := "Everyone: full (default)"
		if len(s.Permissions) > 0 {
			var parts []string
			for _, p := range s.Permissions {
				verb := "allow"
				if p.Deny {
					verb = "deny"
				}
				account := clean(p.Account)
				if p.SID != "" && !strings.EqualFold(p.SID, p.Account) {
					// The SID a domain name resolved to: what access
					// checks use.
					account += " (" + clean(p.SID) + ")"
				}
				parts = append(parts, fmt.Sprintf("%s %s: %s", verb, account, clean(p.Access)))
			}
			perms = strings.Join(parts, "; ")
		}
		fmt.Fprintf(w, "Permissions:\t%s\n", perms)
	})
}

func (c *cli) shareShow(fs *flag.FlagSet, pos []string) error {
	var s adminapi.Share
	raw, err := c.client.do("GET", "/shares/"+seg(pos[0]), nil, &s)
	if err != nil {
		return err
	}
	return c.printShare(raw, s)
}

func boolFlag(fs *flag.FlagSet, name string) bool {
	v, _ := strconv.ParseBool(fs.Lookup(name).Value.String())
	return v
}

func (c *cli) shareCreate(fs *flag.FlagSet, pos []string) error {
	req := adminapi.ShareCreate{
		Name:                   pos[0],
		Path:                   fs.Lookup("path").Value.String(),
		Comment:                fs.Lookup("comment").Value.String(),
		ContinuouslyAvailable:  boolFlag(fs, "ca"),
		EncryptData:            boolFlag(fs, "encrypt"),
		ReadOnly:               boolFlag(fs, "readonly"),
		Guest:                  boolFlag(fs, "guest"),
		Permissions:            permissions(fs),
		AccessBasedEnumeration: boolFlag(fs, "abe"),
	}
	if req.Path == "" {
		return usagef("share create needs --path, an absolute path on the cluster shared volume")
	}
	var s adminapi.Share
	raw, err := c.client.do("POST", "/shares", req, &s)
	if err != nil {
		return err
	}
	return c.say(raw, "share %s created", clean(s.Name))
}

// shareUpdate changes only the settings given on the command line: it
// reads the share, applies them, and writes the whole definition back.
func (c *cli) shareUpdate(fs *flag.FlagSet, pos []string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	changed := false
	for _, n := range []string{"path", "comment", "ca", "encrypt", "readonly", "guest", "abe", "allow", "deny"} {
		changed = changed || set[n]
	}
	if !changed {
		return usagef("share update: nothing to change; give --path, --comment, --ca, --encrypt, --readonly, --guest, --abe, --allow or --deny")
	}
	var cur adminapi.Share
	if _, err := c.client.do("GET", "/shares/"+seg(pos[0]), nil, &cur); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.detail.Code != adminapi.CodeShareRefused {
			return err
		}
		// A refused record cannot be read back; the update replaces it
		// with the settings given, the others at their defaults.
		cur = adminapi.Share{Name: pos[0]}
	}
	req := adminapi.ShareUpdate(cur)
	if set["path"] {
		req.Path = fs.Lookup("path").Value.String()
	}
	if set["comment"] {
		req.Comment = fs.Lookup("comment").Value.String()
	}
	if set["ca"] {
		req.ContinuouslyAvailable = boolFlag(fs, "ca")
	}
	if set["encrypt"] {
		req.EncryptData = boolFlag(fs, "encrypt")
	}
	if set["readonly"] {
		req.ReadOnly = boolFlag(fs, "readonly")
	}
	if set["guest"] {
		req.Guest = boolFlag(fs, "guest")
	}
	if set["abe"] {
		req.AccessBasedEnumeration = boolFlag(fs, "abe")
	}
	if set["allow"] || set["deny"] {
		// The given entries replace the whole list.
		req.Permissions = permissions(fs)
	}
	var s adminapi.Share
	raw, err := c.client.do("PUT", "/shares/"+seg(pos[0]), req, &s)
	if err != nil {
		return err
	}
	return c.say(raw, "share %s updated", clean(s.Name))
}

func (c *cli) shareDelete(fs *flag.FlagSet, pos []string) error {
	raw, err := c.client.do("DELETE", "/shares/"+seg(pos[0]), nil, nil)
	if err != nil {
		return err
	}
	return c.say(raw, "share %s deleted", clean(pos[0]))
}

// ---- users ----

func (c *cli) userList(fs *flag.FlagSet, _ []string) error {
	var ul adminapi.UserList
	raw, err := c.client.do("GET", "/users", nil, &ul)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, "NAME\tCREATED")
		for _, u := range ul.Users {
			fmt.Fprintf(w, "%s\t%s\n", clean(u.Name), stamp(u.Created))
		}
	})
}

func (c *cli) userCreate(fs *flag.FlagSet, pos []string) error {
	pw, err := c.readPassword(fs)
	if err != nil {
		return err
	}
	var u adminapi.User
	raw, err := c.client.do("POST", "/users", adminapi.UserCreate{Name: pos[0], Password: pw}, &u)
	if err != nil {
		return err
	}
	return c.say(raw, "user %s created", clean(u.Name))
}

func (c *cli) userPasswd(fs *flag.FlagSet, pos []string) error {
	pw, err := c.readPassword(fs)
	if err != nil {
		return err
	}
	raw, err := c.client.do("PUT", "/users/"+seg(pos[0])+"/password", adminapi.PasswordChange{Password: pw}, nil)
	if err != nil {
		return err
	}
	return c.say(raw, "password of user %s changed", clean(pos[0]))
}

func (c *cli) userDelete(fs *flag.FlagSet, pos []string) error {
	raw, err := c.client.do("DELETE", "/users/"+seg(pos[0]), nil, nil)
	if err != nil {
		return err
	}
	return c.say(raw, "user %s deleted", clean(pos[0]))
}

// ---- sessions and open files ----

func (c *cli) sessionList(fs *flag.FlagSet, _ []string) error {
	var sl adminapi.SessionList
	raw, err := c.client.do("GET", "/sessions", nil, &sl)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, "SESSION ID\tNODE\tCLIENT\tUSER\tDIALECT\tSIGNED\tENCRYPTED\tOPENS\tCONNECTED")
		for _, s := range sl.Sessions {
			user := s.User
			if s.Guest {
				user += " (guest)"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.SessionID, clean(s.Node), clean(s.ClientAddress),
				orDash(clean(user)), clean(s.Dialect), yesNo(s.Signed), yesNo(s.Encrypted), s.Opens, stamp(s.ConnectedAt))
		}
	})
}

// accessString renders the commonly meaningful bits of an access mask,
// R (read data), W (write or append data) and D (delete), with the mask.
func accessString(mask uint32) string {
	const (
		readData    = 0x1
		writeData   = 0x2
		appendData  = 0x4
		deleteRight = 0x10000
		genericAll  = 0x10000000
		genericWr   = 0x40000000
		genericRd   = 0x80000000
		maxAllowed  = 0x02000000
	)
	var b strings.Builder
	if mask&(readData|genericRd|genericAll|maxAllowed) != 0 {
		b.WriteByte('R')
	}
	if mask&(writeData|appendData|genericWr|genericAll) != 0 {
		b.WriteByte('W')
	}
	if mask&(deleteRight|genericAll) != 0 {
		b.WriteByte('D')
	}
	if b.Len() == 0 {
		b.WriteByte('-')
	}
	return fmt.Sprintf("%s (0x%08x)", b.String(), mask)
}

func (c *cli) openFileList(fs *flag.FlagSet, _ []string) error {
	var ol adminapi.OpenFileList
	raw, err := c.client.do("GET", "/open-files", nil, &ol)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, "FILE ID\tSESSION ID\tNODE\tUSER\tSHARE\tPATH\tACCESS\tHANDLE\tLOCKS")
		for _, f := range ol.OpenFiles {
			handle := "-"
			switch {
			case f.Persistent:
				handle = "persistent"
			case f.Durable:
				handle = "durable"
			}
			path := f.Path
			if path == "" {
				path = `\`
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", clean(f.FileID), f.SessionID, clean(f.Node),
				orDash(clean(f.User)), clean(f.Share), clean(path), accessString(f.Access), handle, f.Locks)
		}
	})
}

// ---- witness ----

func (c *cli) witnessList(fs *flag.FlagSet, _ []string) error {
	var wl adminapi.WitnessClientList
	raw, err := c.client.do("GET", "/witness/clients", nil, &wl)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tCLIENT\tNETNAME\tSHARE\tADDRESS\tNODE\tSTATE\tMOVE TO\tVERSION\tSINCE")
		for _, r := range wl.Clients {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", clean(r.ID), clean(r.Client), clean(r.NetName),
				orDash(clean(r.Share)), clean(r.IPAddress), clean(r.Node), clean(r.State), orDash(clean(r.MoveTo)), r.Version, stamp(r.Since))
		}
	})
}

func (c *cli) witnessMove(fs *flag.FlagSet, pos []string) error {
	node := fs.Lookup("node").Value.String()
	if node == "" {
		return usagef("witness move needs --node, the id of the node the client should use")
	}
	var r adminapi.WitnessClient
	raw, err := c.client.do("POST", "/witness/clients/"+seg(pos[0])+"/move", adminapi.WitnessMove{Node: node}, &r)
	if err != nil {
		return err
	}
	return c.say(raw, "witness client %s asked to move to node %s", clean(r.ID), clean(node))
}

func (c *cli) witnessMoveShare(fs *flag.FlagSet, pos []string) error {
	node := fs.Lookup("node").Value.String()
	if node == "" {
		return usagef("witness move-share needs --node, the id of the node the share's clients should use")
	}
	var wl adminapi.WitnessClientList
	req := adminapi.WitnessShareMove{Node: node, Client: fs.Lookup("client").Value.String()}
	raw, err := c.client.do("POST", "/witness/shares/"+seg(pos[0])+"/move", req, &wl)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(wl.Clients))
	for _, r := range wl.Clients {
		ids = append(ids, clean(r.ID))
	}
	return c.say(raw, "%d witness client(s) of share %s asked to move it to node %s: %s",
		len(wl.Clients), clean(pos[0]), clean(node), orDash(strings.Join(ids, ", ")))
}

// ---- join tokens ----

// tokenCreate prints the token alone on stdout in table mode, so a script
// can capture it: TOKEN=$(sofsctl token create --ttl 10m). The expiry goes
// to the JSON form.
func (c *cli) tokenCreate(fs *flag.FlagSet, _ []string) error {
	ttl := fs.Lookup("ttl").Value.(flag.Getter).Get().(time.Duration)
	var jt adminapi.JoinToken
	raw, err := c.client.do("POST", "/join-tokens", adminapi.JoinTokenCreate{TTL: ttl.String()}, &jt)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, clean(jt.Token))
	})
}

// ---- volumes ----

func (c *cli) volumeList(fs *flag.FlagSet, _ []string) error {
	var vl adminapi.VolumeList
	raw, err := c.client.do("GET", "/volumes", nil, &vl)
	if err != nil {
		return err
	}
	return c.emit(raw, func(w io.Writer) {
		fmt.Fprintln(w, "NAME\tPATH\tVERIFIED\tPROBLEM")
		for _, v := range vl.Volumes {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", clean(v.Name), clean(v.Path), yesNo(v.Verified), orDash(clean(v.Problem)))
		}
	})
}

func (c *cli) volumeCreate(fs *flag.FlagSet, pos []string) error {
	p := fs.Lookup("path").Value.String()
	if p == "" {
		return usagef("volume create needs --path, the directory where every node mounts the volume")
	}
	var v adminapi.VolumeInfo
	raw, err := c.client.do("POST", "/volumes", adminapi.VolumeCreate{Name: pos[0], Path: p}, &v)
	if err != nil {
		return err
	}
	return c.say(raw, "volume %s registered at %s (id %s)", clean(v.Name), clean(v.Path), clean(v.ID))
}
