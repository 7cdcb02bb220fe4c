#!/usr/bin/python3
"""Differential test of our PAC engine against pacparser.

pacparser (python3-pacparser, Debian) is an independent PAC engine: an old
SpiderMonkey with Mozilla's PAC library. Every fixture PAC in testdata/ is
evaluated by both for every host below (and one generated PAC for the time
helpers); any answer that differs fails the test unless the (fixture,
host) pair is listed in KNOWN_DIVERGENCES with why pacparser is the one
that is wrong by browser (Chromium) semantics.

DNS is the same fixed zone for both: our engine gets it through pac-eval's
resolver, pacparser through dnsResolve/dnsResolveEx defined over the same
table (prepended to the script), so no real lookup happens. Both run in
UTC at the real clock; the time PAC is generated from that clock.

    pac_differential_test.py <pac-eval binary> <testdata dir>
Exit status: 0 agree, 1 an unlisted disagreement, 77 pacparser missing.
"""
import datetime
import os
import subprocess
import sys
import tempfile
import warnings

MY_IP = "10.1.2.3"
ZONE = {
    "relay.example": ["203.0.113.7"],
    "intranet.corp.example": ["10.20.30.40"],
    "www.corp.example": ["10.20.30.41"],
    "dual.example": ["198.51.100.1", "2001:db8::7"],
}
HOSTS = [
    "relay.example", "intranet.corp.example", "www.corp.example", "www", "wiki",
    "dual.example", "nowhere.example", "a.com", "x.a.com", "xa.com",
    "10.20.30.40", "203.0.113.9", "::1", "2001:db8::7",
]

# (fixture, host or "*") -> why pacparser's answer is not a browser's.
KNOWN_DIVERGENCES = {
    ("alert.pac", "*"): "pacparser defines no alert(); every browser does, so the call throws there",
    ("names.pac", "::1"): "isPlainHostName: pacparser only looks for a dot; Chromium does not "
                          "count an IPv6 literal as a plain host name",
    ("names.pac", "2001:db8::7"): "isPlainHostName on an IPv6 literal (as for ::1)",
    ("plain.pac", "::1"): "isPlainHostName on an IPv6 literal (as for names.pac)",
    ("plain.pac", "2001:db8::7"): "isPlainHostName on an IPv6 literal (as for names.pac)",
    ("corporate.pac", "::1"): "isPlainHostName on an IPv6 literal (as for names.pac)",
    ("corporate.pac", "2001:db8::7"): "isPlainHostName on an IPv6 literal (as for names.pac)",
    ("malformed_mask.pac", "*"): "isInNet with a mask that is no dotted quad: Chromium's library "
                                 "checks pattern and mask and answers false; pacparser's older "
                                 "one computes with the missing byte as 0",
    ("sort.pac", "*"): "pacparser has no sortIpAddressList (Chromium and WinHTTP do), so the call "
                       "throws there",
    ("microsoft_ex.pac", "*"): "isResolvableEx is always true in pacparser (Chromium's is "
                               "dnsResolveEx(host) != ''), and its isInNetEx answers true for "
                               "a host name against an IPv4 prefix (Chromium's takes only "
                               "address literals: false)",
    ("regex_state.pac", "*"): "pacparser's ES3 engine shares a /g RegExp literal between calls, "
                              "so lastIndex carries over and answers alternate; ES5 engines "
                              "(browsers) create a fresh RegExp per call",
    ("time.pac", "*"): "weekdayRange/dateRange wrap-around: pacparser's library has none, so a "
                       "range that wraps past Saturday or December is false there",
}

DAYS = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]  # datetime.weekday() order
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def time_pac(now):
    """Time helpers around `now` (UTC): ranges that hold today, ones that
    do not, and ranges that wrap around the week or the year."""
    today, tomorrow = DAYS[now.weekday()], DAYS[(now.weekday() + 1) % 7]
    yesterday = DAYS[(now.weekday() + 6) % 7]
    month, next_month = MONTHS[now.month - 1], MONTHS[now.month % 12]
    checks = [
        f"weekdayRange('{today}')", f"weekdayRange('{tomorrow}')",
        f"weekdayRange('{yesterday}', '{today}')",
        f"weekdayRange('{tomorrow}', '{today}')",  # wraps (unless today is SAT)
        f"weekdayRange('{tomorrow}', '{yesterday}', 'GMT')",
        f"dateRange('{month}')", f"dateRange({now.year})", f"dateRange({now.day})",
        f"dateRange('{next_month}', '{month}')",  # wraps (unless it is December)
        "timeRange(0, 23)", f"timeRange({now.hour})", f"timeRange({(now.hour + 2) % 24})",
    ]
    body = ",\n    ".join(f'"{c}=" + {c}' for c in checks)
    return ("function FindProxyForURL(url, host) {\n  return [\n    " + body +
            "\n  ].join(' ');\n}\n")


def pacparser_shim():
    zone = ",".join(f"'{h}': {a!r}" for h, a in ZONE.items())
    return (
        "var __zone = {" + zone + "};\n"
        "function __isIp(h) { return /^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(h) || "
        "(h.indexOf(':') >= 0 && /^[0-9a-fA-F:.]+$/.test(h)); }\n"
        "function dnsResolve(h) { if (/^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(h)) return h;"
        " var a = __zone[h]; if (!a) return null;"
        " for (var i = 0; i < a.length; i++) if (a[i].indexOf(':') < 0) return a[i];"
        " return null; }\n"
        "function dnsResolveEx(h) { if (__isIp(h)) return h; var a = __zone[h];"
        " return a ? a.join(';') : ''; }\n")


def url_for(host):
    return f"https://[{host}]/" if ":" in host else f"https://{host}/"


def run_ours(pac_eval, path):
    zone_args = [f"{h}={','.join(a)}" for h, a in ZONE.items()]
    queries = "".join(f"{url_for(h)} {h}\n" for h in HOSTS)
    out = subprocess.run([pac_eval, path, MY_IP] + zone_args, input=queries, text=True,
                         capture_output=True, check=True, env=dict(os.environ, TZ="UTC"))
    lines = out.stdout.splitlines()
    if len(lines) == 1 and lines[0].startswith("FAILED: "):
        return [lines[0]] * len(HOSTS)
    assert len(lines) == len(HOSTS), out.stdout
    return lines


def run_pacparser(pacparser):
    answers = []
    for host in HOSTS:
        try:
            answers.append(pacparser.find_proxy(url_for(host), host))
        except Exception as e:  # pacparser raises a bare error on a throw
            answers.append(f"ERROR: {e}")
    return answers


class Quiet:
    """pacparser reports script errors on the process's stderr: keep them
    out of the test log (the answers already say ERROR)."""

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)


def is_utf8(path):
    try:
        open(path, encoding="utf-8").read()
        return True
    except UnicodeDecodeError:
        return False


def main():
    pac_eval, testdata = sys.argv[1], sys.argv[2]
    warnings.simplefilter("ignore")
    try:
        import pacparser
    except ImportError:
        print("pacparser is not installed (deploy/dev/deps.sh installs python3-pacparser)")
        return 77
    os.environ["TZ"] = "UTC"
    now = datetime.datetime.now(datetime.timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        fixtures = sorted(os.path.join(testdata, f) for f in os.listdir(testdata)
                          if f.endswith(".pac"))
        generated = os.path.join(tmp, "time.pac")
        with open(generated, "w") as f:
            f.write(time_pac(now))
        fixtures.append(generated)

        failures, known, compared, used = [], 0, 0, set()
        for path in fixtures:
            name = os.path.basename(path)
            ours = run_ours(pac_eval, path)
            with open(path, "rb") as f:
                raw = f.read()
            text = raw.decode("utf-8") if is_utf8(path) else raw.decode("latin-1")
            with Quiet():
                pacparser.enable_microsoft_extensions()
                pacparser.init()
                pacparser.setmyip(MY_IP)
                try:
                    pacparser.parse_pac_string(pacparser_shim() + text)
                    theirs = run_pacparser(pacparser)
                except Exception as e:
                    theirs = [f"FAILED: {e}"] * len(HOSTS)
                pacparser.cleanup()
            for host, a, b in zip(HOSTS, ours, theirs):
                compared += 1
                if a == b:
                    continue
                reason = KNOWN_DIVERGENCES.get((name, host)) or KNOWN_DIVERGENCES.get((name, "*"))
                if reason:
                    known += 1
                    used.add((name, host) if (name, host) in KNOWN_DIVERGENCES else (name, "*"))
                    print(f"known  {name} {host}: ours={a!r} pacparser={b!r} ({reason})")
                else:
                    failures.append(f"DIFFER {name} {host}:\n  ours      {a!r}\n  pacparser {b!r}")
        for f in failures:
            print(f)
        # An entry that no longer differs is stale (the time ones may agree
        # on the days their range does not wrap): say so, do not fail.
        for key in sorted(set(KNOWN_DIVERGENCES) - used):
            print(f"note   {key[0]} {key[1]}: listed as a known divergence but both agree today")
        print(f"{compared} answers compared over {len(fixtures)} PACs x {len(HOSTS)} hosts: "
              f"{compared - known - len(failures)} agree, {known} known divergences, "
              f"{len(failures)} unexplained")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
