package fcruntime

import "sort"

// Environ turns name/value pairs, with overrides applied, into a Config's
// Env lines; an empty override removes the variable.
func Environ(env, overrides [][2]string) []string {
	m := map[string]string{}
	for _, kv := range append(append([][2]string{}, env...), overrides...) {
		m[kv[0]] = kv[1]
	}
	var out []string
	for k, v := range m {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}
