// UTF-8 <-> UTF-16 for the Windows API's wide ("W") functions: the agent
// keeps every string in UTF-8 and converts at the call. Windows only.
#ifndef COMMON_UTF16_H_
#define COMMON_UTF16_H_

#ifdef _WIN32
#include <windows.h>

#include <string>
#include <string_view>

namespace relayscope {

inline std::wstring Utf16(std::string_view utf8) {
  if (utf8.empty()) return L"";
  const int size =
      MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(size > 0 ? size : 0), L'\0');
  if (size > 0) {
    MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()), out.data(), size);
  }
  return out;
}

// `wide` need not end in a NUL; a nullptr is "".
inline std::string Utf8(const wchar_t* wide, size_t units) {
  if (wide == nullptr || units == 0) return "";
  const int size =
      WideCharToMultiByte(CP_UTF8, 0, wide, static_cast<int>(units), nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<size_t>(size > 0 ? size : 0), '\0');
  if (size > 0) {
    WideCharToMultiByte(CP_UTF8, 0, wide, static_cast<int>(units), out.data(), size, nullptr,
                        nullptr);
  }
  return out;
}
inline std::string Utf8(const wchar_t* wide) {
  return wide == nullptr ? std::string() : Utf8(wide, std::wstring_view(wide).size());
}

}  // namespace relayscope

#endif  // _WIN32
#endif  // COMMON_UTF16_H_
