// The agent's command-line flags, in a library of their own so that tests
// can check that every flag the verdict advises exists (flags_test.cc).
#include "agent/cli/flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, catalogue, "",
          "The relay catalogue (relayscope.v1.Catalogue, text format; default: the one built "
          "in, the production relays of deploy/catalogue/aos.textproto)");
ABSL_FLAG(std::vector<std::string>, region, {}, "Only these regions (default: all)");
ABSL_FLAG(std::vector<std::string>, ports, {}, "Only these relay ports (default: all)");
ABSL_FLAG(std::vector<std::string>, proxy, {},
          "Proxies to try, in order: http://host:port, https://, socks4://, socks4a://, "
          "socks5://, socks5h://");
ABSL_FLAG(std::string, proxy_user, "",
          "User name to answer a proxy's 407 with (else RELAYSCOPE_PROXY_USER, else asked on "
          "the terminal); the password comes from RELAYSCOPE_PROXY_PASSWORD or the terminal, "
          "with echo off, and is never shown");
ABSL_FLAG(bool, direct, true, "Also try without a proxy");
ABSL_FLAG(bool, discover, true,
          "Find the proxies this machine uses (Firefox, PAC, manual file, environment) and try "
          "them after --proxy");
ABSL_FLAG(std::string, proxy_ca, "",
          "PEM CA bundle to verify HTTPS proxies with (for a proxy whose certificate comes "
          "from an inspection CA; default: the system roots)");
ABSL_FLAG(std::string, proxy_file, "",
          "Manual proxy file (Proxy=host:port lines; default: $XDG_CONFIG_HOME/relayscope/"
          "proxy.txt, then /etc/relayscope/proxy.txt)");
ABSL_FLAG(std::vector<std::string>, pac_url, {}, "PAC file URLs to evaluate first");
ABSL_FLAG(bool, wpad, false,
          "Look for a PAC file by WPAD (DHCP option 252, then http://wpad.<domain>/wpad.dat) "
          "even where no setting of this machine turns on automatic detection");
ABSL_FLAG(std::vector<std::string>, wpad_lease_dirs, {},
          "WPAD: directories whose DHCP lease files are read for option 252 (default: "
          "/var/lib/dhcp, /var/lib/dhclient, /var/lib/NetworkManager)");
ABSL_FLAG(std::string, wpad_resolv_conf, "",
          "WPAD: the resolv.conf whose search domains are walked (default: /etc/resolv.conf)");
ABSL_FLAG(std::string, wpad_domain, "",
          "WPAD: this host's DNS domain (default: what follows the first dot of the host name)");
ABSL_FLAG(std::string, windows_reg, "",
          "A regedit export of Internet Settings to read (Windows proxy settings on Linux)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(5), "Deadline of each attempt");
ABSL_FLAG(absl::Duration, stagger, absl::Milliseconds(250),
          "Delay between attempt starts while earlier ones are pending (RFC 8305)");
ABSL_FLAG(absl::Duration, budget, absl::Seconds(60), "No attempt starts after this");
ABSL_FLAG(int, concurrency, 16, "Attempts running at once");
ABSL_FLAG(bool, sequential, false, "One attempt after another, like the old client (baseline)");
ABSL_FLAG(std::string, report_dir, "",
          "Where to write the reports (default: the temp dir: $TMPDIR or /tmp; %TMP% or %TEMP% "
          "on Windows)");
ABSL_FLAG(bool, no_open, false,
          "Windows: do not open connrpt.html for the user when the diagnosis is done");
ABSL_FLAG(bool, json, false, "Print the session report as JSON on stdout, nothing else");
ABSL_FLAG(std::string, site, "", "Site label for fleet queries, e.g. acme-paris");
ABSL_FLAG(std::string, agent_id_file, "",
          "Agent identity file, kept only when uploading (default: XDG state dir; without "
          "--collector and this flag each run has a fresh identity and writes none)");
ABSL_FLAG(bool, quiet, false, "Print only the verdict");
ABSL_FLAG(std::string, collector, "",
          "Collector host:port to send the session's telemetry to (empty: don't)");
ABSL_FLAG(bool, insecure, false, "Talk to the collector without TLS (local demo only)");
ABSL_FLAG(std::string, ca, "", "PEM CA bundle for the collector (default: system roots)");
ABSL_FLAG(std::string, token_file, "",
          "File holding the agent token (else RELAYSCOPE_TOKEN); never printed");
ABSL_FLAG(std::string, spool_dir, "",
          "Where undelivered telemetry waits (default: XDG state dir/relayscope/spool)");
ABSL_FLAG(absl::Duration, upload_timeout, absl::Seconds(10), "Time allowed for the upload");
ABSL_FLAG(absl::Duration, interval, absl::Minutes(5), "watch: time between diagnoses");
ABSL_FLAG(int, count, 0, "watch: stop after this many diagnoses (0: until SIGTERM)");

namespace relayscope::agent {

AgentOptions OptionsFromFlags() {
  AgentOptions o;
  o.catalogue_path = absl::GetFlag(FLAGS_catalogue);
  o.open_report = !absl::GetFlag(FLAGS_no_open);
  o.regions = absl::GetFlag(FLAGS_region);
  o.ports = absl::GetFlag(FLAGS_ports);
  o.proxies = absl::GetFlag(FLAGS_proxy);
  o.proxy_user = absl::GetFlag(FLAGS_proxy_user);
  o.proxy_ca_file = absl::GetFlag(FLAGS_proxy_ca);
  o.direct = absl::GetFlag(FLAGS_direct);
  o.discover = absl::GetFlag(FLAGS_discover);
  o.proxy_file = absl::GetFlag(FLAGS_proxy_file);
  o.pac_urls = absl::GetFlag(FLAGS_pac_url);
  o.windows_reg = absl::GetFlag(FLAGS_windows_reg);
  o.wpad = absl::GetFlag(FLAGS_wpad);
  if (const std::vector<std::string> dirs = absl::GetFlag(FLAGS_wpad_lease_dirs); !dirs.empty()) {
    // Both kinds of lease file are read from every directory given.
    o.wpad_places.dhclient_dirs.clear();
    o.wpad_places.networkmanager_dirs = dirs;
  }
  if (const std::string resolv = absl::GetFlag(FLAGS_wpad_resolv_conf); !resolv.empty()) {
    o.wpad_places.resolv_conf = resolv;
  }
  if (const std::string domain = absl::GetFlag(FLAGS_wpad_domain); !domain.empty()) {
    o.wpad_places.host_domain = domain;
  }
  o.diagnose.race.attempt_timeout = absl::GetFlag(FLAGS_timeout);
  o.diagnose.race.stagger = absl::GetFlag(FLAGS_stagger);
  o.diagnose.race.budget = absl::GetFlag(FLAGS_budget);
  o.diagnose.race.max_concurrency = absl::GetFlag(FLAGS_concurrency);
  o.diagnose.race.sequential = absl::GetFlag(FLAGS_sequential);
  o.report_dir = absl::GetFlag(FLAGS_report_dir);
  o.json = absl::GetFlag(FLAGS_json);
  o.quiet = absl::GetFlag(FLAGS_quiet);
  o.site = absl::GetFlag(FLAGS_site);
  o.agent_id_file = absl::GetFlag(FLAGS_agent_id_file);
  o.collector = absl::GetFlag(FLAGS_collector);
  o.insecure = absl::GetFlag(FLAGS_insecure);
  o.ca_file = absl::GetFlag(FLAGS_ca);
  o.token_file = absl::GetFlag(FLAGS_token_file);
  o.spool_dir = absl::GetFlag(FLAGS_spool_dir);
  o.upload_timeout = absl::GetFlag(FLAGS_upload_timeout);
  o.interval = absl::GetFlag(FLAGS_interval);
  o.count = absl::GetFlag(FLAGS_count);
  return o;
}

}  // namespace relayscope::agent
