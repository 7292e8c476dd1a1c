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
// the entry `name` in directory `dirfd`, never following a symlink, or
// through `fd` when that is an open descriptor of the entry. `mode_is_exact`
// says the file was just created by this process with exactly the node's
// permission bits, so mode needs setting only where chown clears set-id bits.
// `display` names the entry in the warning. Returns a warning text, empty
// when all applied; failures to apply metadata never abort a restore.
std::string ApplyNodeMetadataAt(int dirfd, const std::string& name, const std::string& display, const Node& node,
                                int fd = -1, bool mode_is_exact = false);

NodeType NodeTypeFromMode(unsigned mode);

}  // namespace cairn
