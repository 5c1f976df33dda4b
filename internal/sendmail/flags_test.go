package sendmail

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want options
	}{
		{nil, options{}},
		{[]string{"a@x.test", "b@y.test"}, options{rcpts: []string{"a@x.test", "b@y.test"}}},
		{[]string{"-t", "-i"}, options{extract: true, ignoreDots: true}},
		{[]string{"-ti"}, options{extract: true, ignoreDots: true}},
		{[]string{"-oi", "-t"}, options{extract: true, ignoreDots: true}},
		{[]string{"-f", "me@x.test", "a@x.test"}, options{sender: "me@x.test", senderSet: true, rcpts: []string{"a@x.test"}}},
		{[]string{"-fme@x.test"}, options{sender: "me@x.test", senderSet: true}},
		{[]string{"-r", "<>"}, options{sender: "<>", senderSet: true}},
		{[]string{"-tfme@x.test"}, options{extract: true, sender: "me@x.test", senderSet: true}},
		{[]string{"-F", "Cron Daemon"}, options{fullName: "Cron Daemon"}},
		{[]string{"-FCron"}, options{fullName: "Cron"}},
		{[]string{"-bm", "a@x.test"}, options{rcpts: []string{"a@x.test"}}},
		{[]string{"-bs"}, options{mode: modeSMTP}},
		{[]string{"-bp"}, options{mode: modeList}},
		{[]string{"-bi"}, options{mode: modeAliases}},
		{[]string{"-q"}, options{mode: modeFlush}},
		{[]string{"-q30m"}, options{mode: modeFlush}},
		{[]string{"-v", "-odb", "-oem", "-oee", "-om", "-obx", "-U", "-G", "-n", "-m", "a@x.test"}, options{rcpts: []string{"a@x.test"}}},
		{[]string{"-N", "never", "-Nsuccess,failure", "-B", "8BITMIME", "-R", "hdrs", "-V", "env1", "-L", "x", "-h", "5"}, options{}},
		{[]string{"a@x.test", "-f", "me@x.test"}, options{sender: "me@x.test", senderSet: true, rcpts: []string{"a@x.test"}}},
		{[]string{"-i", "--", "-odd@x.test", "-t"}, options{ignoreDots: true, rcpts: []string{"-odd@x.test", "-t"}}},
	} {
		got, err := parseFlags(tc.args)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v %v, want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestParseFlagsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		name string // the flag the message must name
	}{
		{[]string{"-C", "/etc/x"}, "-C"},
		{[]string{"-C/etc/x"}, "-C"},
		{[]string{"-X", "/tmp/log"}, "-X"},
		{[]string{"-OQueueDirectory=/tmp"}, "-O"},
		{[]string{"-be"}, "-be"},
		{[]string{"-bd"}, "-bd"},
		{[]string{"-bt"}, "-bt"},
		{[]string{"-bv"}, "-bv"},
		{[]string{"-bz"}, "-bz"},
		{[]string{"-oA/etc/aliases"}, "-oA"},
		{[]string{"-k"}, "-k"},
		{[]string{"-tk"}, "-k"},
		{[]string{"-f"}, "-f"},
		{[]string{"-F"}, "-F"},
	} {
		_, err := parseFlags(tc.args)
		if exitCode(err) != ExUsage || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%q: %v (exit %d), want EX_USAGE naming %s", tc.args, err, exitCode(err), tc.name)
		}
	}
}
