// HTTP CONNECT replies ("HTTP/1.1 407 ...\r\nProxy-Authenticate: ..."), from
// an HTTP proxy, with or without credentials (first byte, low bit); the
// same bytes also go straight to the header parser (ConnectReplyEvidence),
// past where libcurl would stop reading.
#include "tests/fuzz/proxy_reply_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string reply(reinterpret_cast<const char*>(data + 1), size - 1);
  relayscope::fuzz::ParseHeadersDirectly(reply);
  relayscope::fuzz::OpenThroughFakeProxy(relayscope::v1::ROUTE_KIND_HTTP_CONNECT,
                                         /*remote_dns=*/false, (data[0] & 1) != 0, reply);
  return 0;
}
