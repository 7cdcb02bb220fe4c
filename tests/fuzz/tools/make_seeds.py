#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (run once; the output is
checked in). Seeds are small, real-shaped inputs: the fixtures of the unit
tests (read from their testdata/ folders, so each lives in one place),
what real proxies, relays and middleboxes send, and a few edge cases.
Crash reproducers are added by hand beside them (crash-*)."""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
SOURCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")


def testdata(path):
    """A unit test's fixture file (path from the source root), as text:
    the seeds built from the tests' fixtures read the same files."""
    with open(os.path.join(SOURCE_DIR, path), "rb") as f:
        return f.read().decode("utf-8")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- PAC result strings ----
for i, s in enumerate([
    "DIRECT",
    "PROXY px1.corp.example:8080; PROXY px2.corp.example:8080; SOCKS5 socks.corp.example:1080",
    "PROXY px1.corp.example:8080; DIRECT",
    "HTTPS secure.corp.example:443; SOCKS [fd00::1]:1080; socks4 10.0.0.1",
    "proxy   a:80 ;;  direct ; FTP x:21; PROXY",
    "",
]):
    put("pac_result", f"seed-{i}", s)

# ---- desktop tools' output: gsettings (first byte even), scutil (odd) ----
GSETTINGS = testdata("agent/discovery/testdata/gsettings-manual.txt")
put("desktop_output", "gsettings-manual", "\x00" + GSETTINGS)
put("desktop_output", "gsettings-auto", "\x00org.gnome.system.proxy autoconfig-url 'http://pac.corp/p.pac'\n"
    "org.gnome.system.proxy mode 'auto'\n")
put("desktop_output", "gsettings-wpad", "\x00org.gnome.system.proxy autoconfig-url ''\n"
    "org.gnome.system.proxy mode 'auto'\n")
put("desktop_output", "gsettings-bad", "\x00org.gnome.system.proxy mode 'sometimes'\n"
    "org.gnome.system.proxy.http port 99999\nnot a line\norg.gnome.system.proxy.http host 'a b'\n")
put("desktop_output", "scutil-manual", "\x01" + testdata("agent/discovery/testdata/scutil-manual.txt"))
put("desktop_output", "scutil-direct", "\x01<dictionary> {\n  HTTPEnable : 0\n  HTTPSEnable : 0\n}\n")
put("desktop_output", "scutil-bad", "\x01<dictionary> {\n  HTTPEnable : 1\n  HTTPProxy : proxy.corp\n"
    "  what is this\n  HTTPSEnable : 1\n  HTTPSPort : 8443\n  HTTPSProxy : bad host\n"
    "  ProxyAutoConfigEnable : 1\n  }\n}\n")

# ---- proxy environment variables ("NAME=value" lines) ----
put("environment", "lower-wins", "http_proxy=http://lower:3128\nHTTP_PROXY=http://upper:3128\n"
    "HTTPS_PROXY=http://user:s3cret@secure:8080\nALL_PROXY=socks5h://socks:1080\n"
    "no_proxy=localhost, .corp.example,10.0.0.0/8\nPATH=/usr/bin\n")
put("environment", "malformed", "https_proxy=ftp://user:hunter2@p:1\nhttp_proxy=http://bob:p%zzw@h:1\n"
    "all_proxy=  \nHTTP_PROXY=[::1]:3128\n")

# ---- PAC scripts ----
put("pac_eval", "corporate.pac", testdata("agent/pac/testdata/corporate.pac"))
put("pac_eval", "helpers.pac", r'''
function FindProxyForURL(url, host) {
  alert("evaluating " + url);
  if (weekdayRange("MON", "FRI") && timeRange(8, 18)) return "PROXY office:3128";
  if (dateRange("JAN", "MAR")) return "SOCKS5 q1.corp:1080";
  if (localHostOrDomainIs(host, "relay.example")) return "HTTPS tls.corp:443";
  if (dnsResolve("fail.corp") == null) return "PROXY fallback:8080; DIRECT";
  return dnsDomainLevels(host) > 2 ? "DIRECT" : "PROXY p:1";
}
''')
put("pac_eval", "ex.pac", r'''
function FindProxyForURLEx(url, host) {
  var all = dnsResolveEx(host);
  return isInNetEx(myIpAddressEx(), "192.168.0.0/16") ? "PROXY lan:8080" : "DIRECT; " + all;
}
''')
put("pac_eval", "throws.pac", 'function FindProxyForURL(u, h) { throw new Error("no"); }')
put("pac_eval", "not-a-string.pac", "function FindProxyForURL(u, h) { return 42; }")
put("pac_eval", "no-function.pac", "var x = 1;")
put("pac_eval", "syntax.pac", "function FindProxyForURL(u, h) { return 'DIRECT' ")
put("pac_eval", "loop.pac", "function FindProxyForURL(u, h) { while (true) {} }")
put("pac_eval", "memory.pac",
    "function FindProxyForURL(u, h) { var a = []; for (;;) a.push(new Array(1e5).join('x')); }")
put("pac_eval", "recursion.pac", "function f(n) { return f(n + 1) + 1; }\n"
    "function FindProxyForURL(u, h) { return '' + f(0); }")
put("pac_eval", "escape.pac", "function FindProxyForURL(u, h) {\n"
    "  try { require('fs'); } catch (e) {}\n"
    "  try { new XMLHttpRequest(); } catch (e) {}\n"
    "  try { Duktape.modSearch('x'); } catch (e) {}\n"
    "  return 'DIRECT'; }")

# ---- Firefox prefs.js (profiles.ini NUL prefs.js, or prefs.js alone) ----
PROFILES = """[Profile1]
Name=work
IsRelative=1
Path=abcd1234.work

[Profile0]
Name=default
IsRelative=1
Path=wxyz9876.default
Default=1

[Install4F96D1932A9F858E]
Default=abcd1234.work
Locked=1

[General]
StartWithLastProfile=1
Version=2
"""
PREFS_MANUAL = testdata("agent/discovery/testdata/prefs.js")
put("prefs_js", "manual.js", PREFS_MANUAL)
put("prefs_js", "profiles-and-manual", PROFILES + "\0" + PREFS_MANUAL)
put("prefs_js", "pac.js", 'user_pref("network.proxy.autoconfig_url", "http://pac.corp.example/proxy.pac");\n'
    'user_pref("network.proxy.type", 2);\n')
put("prefs_js", "share.js", 'user_pref("network.proxy.share_proxy_settings", true);\n'
    'user_pref("network.proxy.http", "[fd00::3128]");\nuser_pref("network.proxy.http_port", 3128);\n'
    'user_pref("network.proxy.type", 1);\n')
put("prefs_js", "escapes.js", 'user_pref("network.proxy.http", "a\\"b\\\\c\\n");\n'
    'user_pref("network.proxy.http_port", 99999);\nuser_pref("network.proxy.type", 4);\n'
    'user_pref("network.proxy.type", 0);\nuser_pref(broken\n')

# ---- .reg exports ----
REG_WIN10 = (
    "Windows Registry Editor Version 5.00\r\n\r\n"
    "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings]\r\n"
    "\"CertificateRevocation\"=dword:00000001\r\n"
    "\"User Agent\"=\"Mozilla/4.0 (compatible; MSIE 8.0; Win32)\"\r\n"
    "\"ZonesSecurityUpgrade\"=hex:3b,e9,8a,1f,2a,6e,d4,01,a0,0b,31,28,e9,4a,d5,01,00,\\\r\n"
    "  00,00,00\r\n"
    "\"ProxyEnable\"=dword:00000001\r\n"
    "\"ProxyServer\"=\"http=web.corp:8080;https=tls.corp:8443;ftp=ftp.corp:21;socks=socks.corp:1080\"\r\n"
    "\"ProxyOverride\"=\"*.corp.example;10.*;b\u00fccher.example;<local>\"\r\n"
    "\"AutoConfigURL\"=\"http://pac.corp.example/proxy.pac\"\r\n\r\n"
    "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Connections]\r\n"
    "\"DefaultConnectionSettings\"=hex:46,00,00,00,1c,00,00,00,0f,00,00,00,0d,00,00,\\\r\n"
    "  00,77,65,62,2e,63,6f,72,70,3a,38,30,38,30,00,00,00,00,00,00,00,00,00,00,00,\\\r\n"
    "  00,00,00,00,00,00,00\r\n\r\n"
    "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\ZoneMap]\r\n"
    "\"ProxyBypass\"=dword:00000001\r\n"
    "\"ProxyServer\"=\"not-a-proxy-setting:1\"\r\n")
put("reg_export", "win10.reg", REG_WIN10)
put("reg_export", "win10-utf16.reg", b"\xff\xfe" + REG_WIN10.encode("utf-16-le"))
put("reg_export", "regedit4.reg", "REGEDIT4\r\n\r\n"
    "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings]\r\n"
    "\"ProxyEnable\"=dword:00000001\r\n\"ProxyServer\"=\"proxy.corp:3128\"\r\n"
    "\"AutoDetect\"=dword:00000001\r\n\"AutoConfigURL\"=\"http://pac.corp.example/\\\r\n  proxy.pac\"\r\n")
put("reg_export", "disabled.reg", "Windows Registry Editor Version 5.00\r\n\r\n"
    "[HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings]\r\n"
    "\"ProxyEnable\"=dword:00000000\r\n\"ProxyServer\"=\"[::1]:8080\"\r\n\"ProxyEnable\"=dword:zz\r\n")

# ---- kioslaverc ----
put("kioslaverc", "manual", testdata("agent/discovery/testdata/kioslaverc"))
put("kioslaverc", "pac", "[Proxy Settings]\nProxy Config Script=http://pac.corp.example/proxy.pac\nProxyType=2\n")
put("kioslaverc", "wpad", "[Proxy Settings]\nProxyType=3\n")
put("kioslaverc", "direct-env", "[Proxy Settings][$i]\nProxyType=0\n[Proxy Settings]\nProxyType=4\nhttpProxy=http_proxy\n")

# ---- DHCP leases and resolv.conf ----
put("lease_file", "dhclient.leases", """lease {
  interface "eth0";
  fixed-address 192.168.7.23;
  option subnet-mask 255.255.255.0;
  option routers 192.168.7.1;
  option unknown-252 68:74:74:70:3a:2f:2f:77:70:61:64:2e:68:6f:74:65:6c:2f:77:70:61:64:2e:64:61:74:0;
  renew 1 2024/03/04 10:12:01;
}
lease {
  interface "eth0";
  fixed-address 10.20.30.40;
  option domain-name "corp.example";
  option wpad "http://wpad.corp.example/wpad.dat\\000";
  option unknown-252 "not a url";
  option wpad-url "https://pac.corp/p.pac";
  renew 2 2024/03/05 08:00:00;
}
""")
put("lease_file", "networkmanager.lease", """# This is private data. Do not parse.
ADDRESS=10.1.2.3
NETMASK=255.255.255.0
ROUTER=10.1.2.1
DOMAINNAME=branch.corp.example
WPAD=http://proxyconf.branch.corp.example/proxy.pac
OPTION_252=687474703a2f2f7770616
OPTION_252="6674703A2F2F7770616400"
""")
put("lease_file", "escaped", 'option unknown-252 "http://x/\\"y\\".pac";\noption domain-name "http://not-wpad/";\n')
put("lease_file", "resolv.conf", "# Generated by NetworkManager\nsearch corp.example branch.corp.example.\n"
    "nameserver 10.1.2.1\ndomain lab.corp.example\nsearch .\n")

# ---- manual proxy file ----
put("manual_file", "seed", "# proxy for the relay client\nProxy=proxy.corp.example:8080\n"
    "  proxy = socks5://socks.corp.example:1080  \n")
put("manual_file", "url", "http://bob:s%40cret@proxy.corp.example:3128/\n")
put("manual_file", "secret-in-error", "Proxy=http://bob:hunter/2@proxy:8080x\n")
put("manual_file", "crlf", "Proxy=[fd00::1]:3128\r\nUser=x\r\n\r\n")

# ---- proxy URLs ----
for i, s in enumerate([
    "http://user:pass@proxy:3128", "socks5h://[::1]:1080", "proxy:8080", "https://tls.corp",
    "socks4a://s.corp:1080/", "SOCKS5://a%3Ab:c%40d@10.0.0.1:65535", "ftp://x:1",
    "http://u:p@[fe80::1%25eth0]:80", "http://h:0", "http://p@ss@host:1", "  http://x:1  ",
]):
    put("proxy_url", f"seed-{i}", s)

# ---- no_proxy (host[|port] newline list) ----
for i, s in enumerate([
    "relay.example|443\nlocalhost,127.0.0.1,.example",
    "10.1.2.3|8200\n10.0.0.0/8",
    "fd00::5|443\nfd00::/8,[::1]:8080",
    "intranet|80\n<local>",
    "badexample.com|443\nexample.com,*.corp,proxy.corp:3128",
    "a.b\n*",
]):
    put("no_proxy", f"seed-{i}", s)

# ---- HTTP CONNECT replies (first byte: bit 0 = with credentials) ----
for i, (creds, s) in enumerate([
    (0, "HTTP/1.1 200 Connection established\r\n\r\n"),
    (0, "HTTP/1.0 200 OK\r\nProxy-agent: Apache\r\n\r\n"),
    (0, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n"
        "Content-Length: 0\r\n\r\n"),
    (1, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n"
        "Proxy-Connection: close\r\nContent-Length: 0\r\n\r\n"),
    (0, "HTTP/1.1 403 Forbidden\r\nServer: squid/5.7\r\nX-Squid-Error: ERR_ACCESS_DENIED 0\r\n"
        "Content-Type: text/html\r\nContent-Length: 20\r\n\r\n<title>denied</title>"),
    (0, "HTTP/1.1 502 Bad Gateway\r\nVia: 1.1 proxy\r\n\r\n"),
    (0, "HTTP/1.1 200"),
    (1, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    (0, "SSH-2.0-OpenSSH_9.2\r\n"),
]):
    put("connect_reply", f"seed-{i}", bytes([creds]) + s.encode())

# ---- SOCKS replies (first byte: bits 0-1 = socks4/4a/5/5h, bit 2 = credentials) ----
S4, S4A, S5, S5H, CREDS = 0, 1, 2, 3, 4
for i, (mode, b) in enumerate([
    (S4, b"\x00\x5a\x01\xbb\xc0\x00\x02\x0a"),                  # granted
    (S4, b"\x00\x5b\x00\x00\x00\x00\x00\x00"),                  # rejected (91)
    (S4A, b"\x00\x5a\x00\x00\x00\x00\x00\x00"),
    (S5, b"\x05\x00" b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"),  # no auth, succeeded
    (S5, b"\x05\x00" b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"),  # connection refused
    (S5, b"\x05\x00" b"\x05\x04\x00\x04" + b"\x00" * 16 + b"\x00\x00"),  # host unreachable, v6
    (S5H, b"\x05\x00" b"\x05\x00\x00\x03\x0drelay.example\x01\xbb"),
    (S5 | CREDS, b"\x05\x02" b"\x01\x00" b"\x05\x00\x00\x01\x0a\x00\x00\x01\x1f\x90"),  # user/pass ok
    (S5 | CREDS, b"\x05\x02" b"\x01\x01"),                       # user/pass rejected
    (S5, b"\x05\xff"),                                          # no acceptable method
    (S5H, b"\x05\x00" b"\x05\x01\x00\x01"),                      # truncated
]):
    put("socks_reply", f"seed-{i}", bytes([mode]) + b)

# ---- handshake replies ----
# classify: first byte = how the read ended (0 complete, 1 EOF, 2 timeout).
for i, (end, b) in enumerate([
    (1, b"HTTP/1.1 403 Forbidden\r\nServer: BlueCoat-Security-Appliance\r\nVia: 1.1 proxysg\r\n"
        b"Content-Type: text/html\r\n\r\n<html><head><TITLE>Access Denied</title></head></html>"),
    (1, b"HTTP/1.0 200 OK\r\n\r\n<title>Hotel WiFi login"),
    (1, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"),
    (1, b"\x15\x03\x03\x00\x02\x02\x28"),                        # TLS alert
    (1, b"220 mail.corp.example ESMTP Postfix\r\n"),
    (2, b""),
    (2, bytes(range(200))),
    (1, bytes(range(256)) + bytes(31)),                          # 287 bytes: truncated
    (0, b"\x00\x01\x02\\\x7f\xff"),
]):
    put("handshake_classify", f"seed-{i}", bytes([end]) + b)

# verify: first byte bit 7 = XOR onto a genuine reply; rest as classify.
put("handshake_verify", "genuine", b"\x80")                      # the real reply, unchanged
put("handshake_verify", "mac-flipped", b"\x80" + bytes(256) + b"\x01")
put("handshake_verify", "r2-flipped", b"\x80" + b"\x00" * 100 + b"\x40")
put("handshake_verify", "truncated", b"\x81" + bytes(200) + b"\xff")
put("handshake_verify", "extended", b"\x80" + bytes(288) + b"extra bytes after the reply")
put("handshake_verify", "r2-zero", b"\x00" + bytes(288))
put("handshake_verify", "r2-one", b"\x00" + bytes(255) + b"\x01" + bytes(32))
put("handshake_verify", "r2-p-minus-1", b"\x00" + b"\xff" * 256 + bytes(32))
put("handshake_verify", "http-288", b"\x01" + b"HTTP/1.1 200 OK\r\n" + b"x" * 271)

# hello (the relay's side): first byte bit 7 = XOR onto a genuine client
# hello; bytes past 768 are the client's confirmation.
put("handshake_hello", "genuine", b"\x80")
put("handshake_hello", "y-flipped", b"\x80" + b"\x00" * 255 + b"\x01")
put("handshake_hello", "p-flipped", b"\x80" + bytes(256) + b"\x00" * 200 + b"\x02")
put("handshake_hello", "r1-flipped", b"\x80" + bytes(600) + b"\xff")
put("handshake_hello", "with-confirmation", b"\x80" + bytes(768) + bytes(range(32)))
put("handshake_hello", "short", b"\x00" + b"GET / HTTP/1.1\r\nHost: relay\r\n\r\n")
put("handshake_hello", "zeros", b"\x00" + bytes(768))

# ---- REST query strings (first byte: endpoint, 6 = free path) ----
for i, (ep, q) in enumerate([
    (0, "window=6h&group_by=region,relay&route=direct&port=443"),
    (0, "start=2026-11-24T10:00:00Z&end=2026-11-25T10:00:00Z&step=15m&group_by=outcome"),
    (1, "window=7d&region=emea&relay=emea-1&route=SOCKS5,http_connect&site=acme&page_size=50"),
    (2, "page_size=500&page_token=abc%3D%3D"),
    (3, "site=acme+corp&window=90s"),
    (4, ""),
    (5, "window=1h30m&step=1m"),
    (6, "sessions/agent-7/s-7?"),
    (0, "a=%zz&=1&b=%4"),
    (0, "window=0&step=-1h&port=0&route=ftp&group_by=site"),
]):
    put("rest_query", f"seed-{i}", bytes([ep]) + q.encode())

print("seeds written under", os.path.normpath(ROOT))

# ---- telemetry: UploadRequest in wire format, encoded by protoc ----
import subprocess  # noqa: E402

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "proto")
NOW = 1764028800  # the target's fixed "now"
ATTEMPT_OK = f"""
    attempts {{
      session_id: "s-1" sequence: 1 start_time {{ seconds: {NOW - 600} nanos: 5000 }}
      region: "emea" relay: "emea-1" address: "81.144.208.229" port: 443
      route_kind: ROUTE_KIND_HTTP_CONNECT
      proxy {{ kind: ROUTE_KIND_HTTP_CONNECT host: "proxy.corp.example" port: 3128
               source: PROXY_SOURCE_ENV source_detail: "HTTPS_PROXY" }}
      phases {{ phase: PHASE_TCP_CONNECT duration {{ nanos: 1200000 }} completed: true }}
      phases {{ phase: PHASE_PROXY_NEGOTIATION duration {{ nanos: 9000000 }} completed: true }}
      total_duration {{ nanos: 30000000 }}
      outcome: OUTCOME_OK proxy_status: 200 bytes_sent: 800 bytes_received: 288
      detail: "handshake verified"
    }}"""
ATTEMPT_INTERFERENCE = f"""
    attempts {{
      session_id: "s-1" sequence: 2 start_time {{ seconds: {NOW - 590} }}
      region: "americas" relay: "unknown-relay" port: 80 route_kind: ROUTE_KIND_DIRECT
      outcome: OUTCOME_PROTOCOL_INTERFERENCE failed_phase: PHASE_HANDSHAKE
      interference {{ status_line: "HTTP/1.1 403 Forbidden" page_title: "Access Denied"
                      server: "BlueCoat" excerpt: "HTTP/1.1 403 Forbidden\\\\x0d\\\\x0a" }}
      os_error: 104 os_error_name: "ECONNRESET"
    }}"""
ATTEMPT_BAD = f"""
    attempts {{ session_id: "s-1" sequence: 0 start_time {{ seconds: {NOW + 86400} }} port: 70000 }}
    attempts {{ session_id: "other" sequence: 3 }}"""
SESSION = """
  batch_id: 7
  session {
    agent { agent_id: "0b6f1d2e-agent" version: "0.1.0" os: "linux" site: "acme" }
    session_id: "s-1" catalogue: "aos"
    proxies { proxy { kind: ROUTE_KIND_SOCKS5 host: "socks.corp" port: 1080 source: PROXY_SOURCE_FIREFOX
                      source_detail: "prefs.js:7" } bypass: "localhost" bypass: ".corp.example"
              warnings: "prefs.js:9: port 99999 out of range" }
    verdict { status: VERDICT_STATUS_DEGRADED summary: "Port 80 is intercepted"
              working: "emea-1:443 via proxy.corp.example:3128"
              blockers { region: "americas" relay: "americas-1" port: 80 route_kind: ROUTE_KIND_DIRECT
                         outcome: OUTCOME_PROTOCOL_INTERFERENCE explanation: "A filter answers"
                         advice: "Allow the relay" } }
    %s
  }
"""


def encode(text):
    return subprocess.run(
        ["protoc", f"-I{PROTO_DIR}", "--encode=relayscope.v1.UploadRequest",
         "relayscope/v1/ingest.proto"], input=text.encode(), capture_output=True, check=True).stdout


put("telemetry", "full-batch", encode(SESSION % (ATTEMPT_OK + ATTEMPT_INTERFERENCE)))
put("telemetry", "bad-attempts", encode(SESSION % ATTEMPT_BAD))
put("telemetry", "envelope-only", encode('session { agent { agent_id: "a" } session_id: "s" }'))
put("telemetry", "bad-envelope", encode('session { agent { agent_id: "a b" } session_id: "" }'))
put("telemetry", "control-chars", encode(SESSION % ATTEMPT_OK.replace("handshake verified", "a\\nb")))
