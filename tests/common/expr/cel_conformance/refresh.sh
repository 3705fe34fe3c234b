#!/bin/sh
# Regenerates conformance.json from the npm package @bufbuild/cel-spec, which
# publishes google/cel-spec's conformance tests (tests/simple/testdata/*.textproto)
# as JavaScript objects whose `original` member is the cel.expr.conformance.test
# SimpleTest in proto3 JSON form. Keeps that member only (the package's
# cel-go-derived ASTs and types are not CEL's answers).
#
#   tests/common/expr/cel_conformance/refresh.sh [VERSION]
#
# Needs npm and node; writes conformance.json next to this script. Update the
# version in ATTRIBUTION.md, rerun expr_cel_conformance_test and review
# claimed.txt against the new counts.
set -eu
version="${1:-0.6.1}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "@bufbuild/cel-spec@${version}" >/dev/null
tar xzf "bufbuild-cel-spec-${version}.tgz"
node -e '
const t = require("./package/dist/cjs/testdata/conformance.js").tests;
function strip(s) {
  return {name: s.name, suites: (s.suites || []).map(strip),
          tests: (s.tests || []).map((x) => x.original)};
}
const top = strip(t);
// One test per line, so that a refresh reads as a reviewable diff.
const lines = ["{\"package\": \"@bufbuild/cel-spec@" + process.argv[1] + "\",",
               " \"sections\": ["];
top.suites.forEach((section, i) => {
  lines.push("  {\"name\": " + JSON.stringify(section.name) + ", \"suites\": [");
  section.suites.forEach((suite, j) => {
    lines.push("   {\"name\": " + JSON.stringify(suite.name) + ", \"tests\": [");
    suite.tests.forEach((test, k) => {
      lines.push("    " + JSON.stringify(test) + (k + 1 < suite.tests.length ? "," : ""));
    });
    lines.push("   ]}" + (j + 1 < section.suites.length ? "," : ""));
  });
  lines.push("  ]}" + (i + 1 < top.suites.length ? "," : ""));
});
lines.push(" ]}");
require("fs").writeFileSync(process.argv[2], lines.join("\n") + "\n");
' "$version" "$here/conformance.json"
echo "wrote $here/conformance.json from @bufbuild/cel-spec@${version}"
