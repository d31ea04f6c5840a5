// Tables on stdout that stream: the column widths come from the first
// screenful of rows, which is all that is ever held in memory; a later value
// longer than its column is cut with "~".
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tokencli {

class Table {
public:
  // `shrinkable` columns (free text) may be cut and `droppable` ones left
  // out, in that order, until the table fits a terminal's width; in a pipe
  // every column is kept, as wide as its widest cell among the first
  // `sample` rows. Without `headers` the header line is neither printed nor
  // counted.
  Table(std::vector<std::string> header, std::vector<std::size_t> shrinkable,
        std::vector<std::size_t> droppable, bool headers = true, std::size_t sample = 100);
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  void add(std::vector<std::string> row);
  // Prints what is still held (the header alone when there were no rows).
  void finish();

private:
  void settle();
  void print(std::vector<std::string>& row);

  std::vector<std::vector<std::string>> m_held;
  std::vector<std::size_t> m_width;
  std::vector<std::size_t> m_shrinkable;
  std::vector<std::size_t> m_droppable;
  std::vector<std::size_t> m_dropped; // highest index first
  bool m_headers;
  std::size_t m_sample;
  bool m_settled = false;
};

} // namespace tokencli
