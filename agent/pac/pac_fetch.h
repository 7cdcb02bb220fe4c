// Downloads a PAC file (http, https or file URLs) with bounds: size
// (kMaxPacBytes), time, and redirects. PAC files are fetched directly, as
// browsers do: a proxy is never used to find the proxy.
#ifndef AGENT_PAC_PAC_FETCH_H_
#define AGENT_PAC_PAC_FETCH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace relayscope::agent {

struct PacFetchOptions {
  absl::Duration timeout = absl::Seconds(5);
  long max_redirects = 3;
  size_t max_bytes = 8 << 20;
};

// The PAC file's text. UNAVAILABLE (cannot connect, HTTP error, timeout),
// RESOURCE_EXHAUSTED (larger than max_bytes), INVALID_ARGUMENT (a scheme
// other than http, https or file), NOT_FOUND (file:// that does not exist);
// each message names the URL.
// The local path a file:// URL names, as the platform's browsers read it:
// %XX decoded, "localhost/" dropped; on Windows (`windows`) a drive letter
// without its leading slash (file:///C:/x.pac -> C:\x.pac) and a host as
// a UNC path (file://server/share/x.pac -> \\server\share\x.pac).
std::string LocalPathOfFileUrl(absl::string_view url, bool windows);

absl::StatusOr<std::string> FetchPac(const std::string& url, const PacFetchOptions& options = {});

}  // namespace relayscope::agent

#endif  // AGENT_PAC_PAC_FETCH_H_
