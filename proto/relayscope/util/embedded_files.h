// Files compiled into a binary by cmake/EmbedFiles.cmake (the dashboard's
// web assets), so it serves them without an install step.
#ifndef RELAYSCOPE_UTIL_EMBEDDED_FILES_H_
#define RELAYSCOPE_UTIL_EMBEDDED_FILES_H_

#include <cstddef>

namespace relayscope {

struct EmbeddedFile {
  const char* path;  // relative to the embedded base dir, e.g. "web/app.js"
  const char* data;  // `size` bytes (followed by a NUL)
  size_t size;
};

// The files embedded into this binary by relayscope_embed_files() with the
// default SYMBOL; `count` receives how many. Other embeddings declare their
// own function with the same signature.
const EmbeddedFile* EmbeddedFiles(size_t* count);
const EmbeddedFile* PacHelperFiles(size_t* count);

}  // namespace relayscope

#endif  // RELAYSCOPE_UTIL_EMBEDDED_FILES_H_
