// Files compiled into a binary by cmake/EmbedFiles.cmake (the dashboard's
// web assets, the PAC helpers), so it needs no install step.
#ifndef COMMON_EMBEDDED_FILES_H_
#define COMMON_EMBEDDED_FILES_H_

#include <cstddef>

namespace relayscope {

struct EmbeddedFile {
  const char* path;  // relative to the embedded base dir, e.g. "web/app.js"
  const char* data;  // `size` bytes (followed by a NUL)
  size_t size;
};

// The files embedded into this binary by relayscope_embed_files() with the
// default SYMBOL; `count` receives how many. An embedding with its own
// SYMBOL declares a function of the same signature where it is used.
const EmbeddedFile* EmbeddedFiles(size_t* count);

}  // namespace relayscope

#endif  // COMMON_EMBEDDED_FILES_H_
