// A control for make vulncheck, not part of the platform: it requires
// golang.org/x/text v0.3.5 and calls language.Parse, which GO-2021-0113
// (fixed in v0.3.7) says is vulnerable. A database and a govulncheck that
// work must report it; if they do not, a clean scan of the platform means
// nothing.
module example.com/vulncheck-control

go 1.26.11

require golang.org/x/text v0.3.5
