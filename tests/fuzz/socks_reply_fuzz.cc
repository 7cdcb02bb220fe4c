// SOCKS4/4a/5/5h replies: the first byte picks the dialect (low two bits)
// and credentials (bit 2); the rest is everything the proxy answers, in
// order (SOCKS5: method choice, then the auth reply when a password was
// chosen, then the connect reply).
#include "tests/fuzz/proxy_reply_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace v1 = relayscope::v1;
  v1::RouteKind kind = v1::ROUTE_KIND_SOCKS5;
  bool remote_dns = false;
  switch (data[0] & 3) {
    case 0:
      kind = v1::ROUTE_KIND_SOCKS4;
      break;
    case 1:
      kind = v1::ROUTE_KIND_SOCKS4A;
      remote_dns = true;
      break;
    case 2:
      kind = v1::ROUTE_KIND_SOCKS5;
      break;
    case 3:
      kind = v1::ROUTE_KIND_SOCKS5;
      remote_dns = true;
      break;
  }
  relayscope::fuzz::OpenThroughFakeProxy(
      kind, remote_dns, (data[0] & 4) != 0,
      std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  return 0;
}
