// duration_cases.go prints the expected results that tests/duration_test.cpp embeds: Go's own
// time.Duration.String() and time.ParseDuration() over a table of inputs, written as C++
// initializers. Provenance for those tables; rerun it after changing the inputs below:
//
//   go run tests/data/duration_cases.go
//
// and paste its output between the "generated" markers in tests/duration_test.cpp. The tables
// were generated with Go 1.19.8 (linux/amd64).
package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// cxx writes s as a C++ string literal. Every byte outside printable ASCII becomes a three-digit
// octal escape: unlike \x, an octal escape stops after three digits, so a following character
// can never be swallowed into it.
func cxx(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f && c != '?': // '?' escaped: no trigraph surprises
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var formatInputs = []int64{
	0, 1, 2, 9, 10, 99, 100, 999,
	1000, 1001, 1010, 1100, 1500, 1999, 12345, 999999,
	1000000, 1000001, 1500000, 2500000, 250000000, 999999999,
	1000000000, 1000000001, 1500000000, 2000943787, 5001234313,
	59999999999, 60000000000, 60500000000, 61000000000, 119999999999,
	3599999999999, 3600000000000, 3723000000000, 3723000000001, 5400000000000,
	86400000000000, 100 * 3600000000000,
	-1, -1000, -1500, -1500000, -1000000000, -60500000000, -3723000000000,
	math.MaxInt64, math.MinInt64, math.MinInt64 + 1,
}

var parseInputs = []string{
	// accepted
	"0", "+0", "-0", "0s", "5s", "30s", "1478s", "-5s", "+5s", "-0s", "+0s",
	"5.0s", "5.6s", "5.s", ".5s", "1.004s", "1.0040s", "100.00100s",
	"10ns", "11us", "12µs", "12μs", "13ms", "14s", "15m", "16h",
	"3h30m", "10.5s4m", "-2m3.4s", "1h2m3s4ms5us6ns", "39h9m14.425s",
	"52763797000ns", "0.3333333333333333333h", "9007199254740993ns",
	"9223372036854775807ns", "9223372036854775.807us", "9223372036.854775807s",
	"-9223372036854775808ns", "-9223372036854775.808us", "-9223372036.854775808s",
	"0.100000000000000000000h", "0.830103483285477580700h", "1.5h", "2540400h10m10s",
	"250ms", "2.000943787s", "1m0.5s",
	// rejected
	"", "3", "-", "+", "s", ".", "-.", ".s", "+.s", "1d", "1x", "abc", "1.5", "1ns1",
	"3000000h", "9223372036854775808ns", "9223372036854775.808us", "9223372036.854775808s",
	"-9223372036854775809ns", "9223372036854775807ns1ns", "18446744073709551616ns",
	"1µx", "1\xffs", "1\u00b5", "\"1\"s", "1s\\", "1 s", " 1s", "1s ", "1\ts", "--1s", "1e3s",
	"1S", "1Ms", "1.2.3s", "1\ufffds",
}

func main() {
	fmt.Println("// format_duration: {nanoseconds, Go's Duration.String()}")
	for _, n := range formatInputs {
		lit := fmt.Sprint(n)
		if n == math.MinInt64 {
			lit = "INT64_MIN" // -9223372036854775808 is not a C++ integer literal
		}
		fmt.Printf("    {%s, %s},\n", lit, cxx(time.Duration(n).String()))
	}
	fmt.Println("// parse_duration: {input, ok, nanoseconds, Go's error text}")
	for _, s := range parseInputs {
		d, err := time.ParseDuration(s)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		lit := fmt.Sprint(int64(d))
		if int64(d) == math.MinInt64 {
			lit = "INT64_MIN"
		}
		fmt.Printf("    {%s, %v, %s, %s},\n", cxx(s), err == nil, lit, cxx(msg))
	}
}
