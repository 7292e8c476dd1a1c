// Helpers shared by catalog backends: opaque keyset cursors, page limits,
// JSON columns. Pure functions; thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/catalog.h"

namespace cairn::catalog_internal {

constexpr int kDefaultPageLimit = 50;
constexpr int kMaxPageLimit = 1000;

// The limit a PageRequest asks for, clamped to 1..kMaxPageLimit.
int PageLimit(const PageRequest& page);

// A cursor is the key of the last row of a page, tagged with what it pages
// through, as hex text: opaque to clients and safe in a URL.
std::string EncodeCursor(char tag, std::initializer_list<std::string_view> fields);
// The fields of a cursor made by EncodeCursor with `tag` and `count` fields;
// kInvalidArgument for anything else.
Result<std::vector<std::string>> DecodeCursor(std::string_view cursor, char tag, size_t count);
// A decimal integer field of a cursor.
Result<int64_t> CursorInt(const std::string& field);

// JSON column text -> value; null for NULL/empty/invalid text.
Json ParseJsonColumn(std::string_view text);
// Value -> column text; "" for null.
std::string JsonColumn(const Json& value);

}  // namespace cairn::catalog_internal
