//! Docker's table layout (Go `tabwriter` with minwidth 10, padding 3): every
//! column but the last is padded to its widest cell plus 3 spaces, and to at
//! least 10 characters; widths count characters, not bytes. As in docker, a
//! row whose last cell is empty keeps the padding before it.

/// Go tabwriter's `minwidth` as docker configures it.
const MIN_WIDTH: usize = 10;
/// Go tabwriter's `padding` as docker configures it.
const PADDING: usize = 3;

/// Lays out `header` and `rows` as docker prints tables, one line each with
/// a trailing newline. Rows shorter than the header are padded with empty cells.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate().take(columns) {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|cell| (*cell).to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (index, width) in widths.iter().enumerate() {
            let cell = row.get(index).map(String::as_str).unwrap_or("");
            line.push_str(cell);
            if index + 1 < columns {
                let target = (width + PADDING).max(MIN_WIDTH);
                let pad = target.saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_like_docker() {
        let rows = vec![
            vec!["app".to_string(), "1".to_string(), "5.24MB".to_string()],
            vec![
                "quay.io/some/long-name".to_string(),
                "latest".to_string(),
                "0B".to_string(),
            ],
        ];
        let table = render(&["REPOSITORY", "TAG", "SIZE"], &rows);
        let expected = "\
REPOSITORY               TAG       SIZE
app                      1         5.24MB
quay.io/some/long-name   latest    0B
";
        assert_eq!(table, expected);
    }

    #[test]
    fn header_only_and_unicode_widths() {
        assert_eq!(
            render(&["REPOSITORY", "TAG", "IMAGE ID"], &[]),
            "REPOSITORY   TAG       IMAGE ID\n"
        );
        let rows = vec![vec!["ab…".to_string(), "x".to_string()]];
        assert_eq!(render(&["A", "B"], &rows), "A         B\nab…       x\n");
        let rows = vec![vec!["x".to_string(), String::new()]];
        assert_eq!(render(&["A", "B"], &rows), "A         B\nx         \n");
    }
}
