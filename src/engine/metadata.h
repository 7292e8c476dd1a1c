// Reading file-system metadata into tree nodes, and applying it back on restore.
#pragma once

#include <string>

#include "cairn/format.h"
#include "cairn/status.h"

namespace cairn {

// lstat()s `path` and fills every metadata field of `node` except content
// and subtree. Owner and group names come from a per-process cache.
Status ReadNodeMetadata(const std::string& path, Node* node);

// Applies ownership, permissions, extended attributes and times of `node` to
// `path` (not following symlinks). `fresh` says the file was just created by
// this process with the node's permission bits (umask 0), so owner and mode
// need setting only where they differ. Returns a warning text, empty when all
// applied; failures to apply metadata never abort a restore.
std::string ApplyNodeMetadata(const std::string& path, const Node& node, int fd = -1, bool fresh = false);

NodeType NodeTypeFromMode(unsigned mode);

}  // namespace cairn
