#include "common/ca_bundle.h"

#include <cstdio>
#include <cstdlib>

namespace relayscope {

const std::vector<std::string>& KnownCaBundles() {
  static const auto* const kBundles = new std::vector<std::string>{
      "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Arch
      "/etc/pki/tls/certs/ca-bundle.crt",                   // RHEL, Fedora, CentOS
      "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // RHEL 7+ (the same, extracted)
      "/etc/ssl/ca-bundle.pem",                             // SUSE
      "/etc/ssl/cert.pem",                                  // Alpine
      "/usr/share/ssl/certs/ca-bundle.crt",                 // old RHEL
  };
  return *kBundles;
}

std::string FindCaBundle(const std::vector<std::string>& candidates) {
  for (const std::string& path : candidates) {
    if (std::FILE* f = std::fopen(path.c_str(), "rb"); f != nullptr) {
      std::fclose(f);
      return path;
    }
  }
  return "";
}

std::string UseSystemCaBundle() {
#ifdef _WIN32
  // Windows has no bundle file: libcurl reads the system's root store
  // (CURLSSLOPT_NATIVE_CA, set by the transport and the uploader).
  return "";
#else
  // Runs before any thread exists (see the header), so reading and
  // changing the environment here races with nothing.
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (std::getenv("SSL_CERT_FILE") != nullptr || std::getenv("SSL_CERT_DIR") != nullptr) return "";
  std::string bundle = FindCaBundle(KnownCaBundles());
  // NOLINTNEXTLINE(concurrency-mt-unsafe)
  if (!bundle.empty()) setenv("SSL_CERT_FILE", bundle.c_str(), /*overwrite=*/0);
  return bundle;
#endif
}

}  // namespace relayscope
