// The system's CA bundle, found at run time. The static Linux agent links a
// libcurl with no compiled-in CA path and Debian's libcrypto.a, whose
// default verify paths are Debian's (/usr/lib/ssl); on RHEL, SUSE or Alpine
// those do not exist. UseSystemCaBundle() points OpenSSL at the bundle this
// machine has, before any TLS is set up.
#ifndef RELAYSCOPE_COMMON_CA_BUNDLE_H_
#define RELAYSCOPE_COMMON_CA_BUNDLE_H_

#include <string>
#include <vector>

namespace relayscope {

// The CA bundles of the common distributions, in the order curl's own
// build probes them: Debian/Ubuntu, RHEL/Fedora, the RHEL extracted bundle,
// SUSE, Alpine/macOS-style.
const std::vector<std::string>& KnownCaBundles();

// The first of `candidates` that is a readable file, or "" when none is.
std::string FindCaBundle(const std::vector<std::string>& candidates);

// Sets SSL_CERT_FILE (read by OpenSSL's default verify paths, which libcurl
// uses without a compiled-in bundle) to the first known bundle, unless
// SSL_CERT_FILE or SSL_CERT_DIR is already set (the user's choice wins) or
// none exists. Call first thing in main, before any thread starts: it
// changes the environment. Returns the bundle chosen, or "".
std::string UseSystemCaBundle();

}  // namespace relayscope

#endif  // RELAYSCOPE_COMMON_CA_BUNDLE_H_
