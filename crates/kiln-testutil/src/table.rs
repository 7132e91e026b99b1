//! Reading docker-style tables (`kiln images`, `kiln history`) back into
//! cells, checking the layout docker's tabwriter produces on the way: every
//! column but the last starts where the previous one's widest cell plus 3
//! spaces ends, and is at least 10 characters wide.

/// A parsed table: the header names and the rows' cells (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The column names, as in the header line.
    pub header: Vec<String>,
    /// One entry per line after the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The cells of column `name`, top to bottom.
    pub fn column(&self, name: &str) -> Vec<String> {
        let index = self
            .header
            .iter()
            .position(|column| column == name)
            .unwrap_or_else(|| panic!("no column {name:?} in {:?}", self.header));
        self.rows.iter().map(|row| row[index].clone()).collect()
    }
}

/// Parses `text` as a docker table and panics unless its columns are laid
/// out as docker lays them out. Header names are separated by 3 or more
/// spaces (names may contain single spaces: `IMAGE ID`).
pub fn parse_docker_table(text: &str) -> Table {
    let mut lines = text.lines();
    let header_line = lines.next().unwrap_or_else(|| panic!("empty table"));
    let mut starts = Vec::new();
    let mut header = Vec::new();
    let chars: Vec<char> = header_line.chars().collect();
    let mut position = 0;
    while position < chars.len() {
        let start = position;
        while position < chars.len()
            && !(chars[position] == ' '
                && chars.get(position + 1) == Some(&' ')
                && chars.get(position + 2) == Some(&' '))
        {
            position += 1;
        }
        starts.push(start);
        header.push(chars[start..position].iter().collect::<String>());
        while position < chars.len() && chars[position] == ' ' {
            position += 1;
        }
    }
    let rows: Vec<Vec<String>> = lines
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            (0..starts.len())
                .map(|column| {
                    let start = starts[column].min(chars.len());
                    let end = starts
                        .get(column + 1)
                        .copied()
                        .unwrap_or(chars.len())
                        .min(chars.len());
                    if column > 0 {
                        assert_eq!(
                            chars.get(start - 1),
                            Some(&' '),
                            "cell {column} of {line:?} does not start at column {start}:\n{text}"
                        );
                    }
                    chars[start..end]
                        .iter()
                        .collect::<String>()
                        .trim_end()
                        .to_owned()
                })
                .collect()
        })
        .collect();
    // Each column but the last: max(widest cell + 3, 10).
    for column in 0..starts.len().saturating_sub(1) {
        let widest = rows
            .iter()
            .map(|row| row[column].chars().count())
            .chain([header[column].chars().count()])
            .max()
            .unwrap_or(0);
        assert_eq!(
            starts[column + 1] - starts[column],
            (widest + 3).max(10),
            "column {:?} is not padded as docker pads it:\n{text}",
            header[column]
        );
    }
    Table { header, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_alignment() {
        let text = "REPOSITORY   TAG       IMAGE ID       SIZE\napp          1         0123456789ab   5MB\n";
        let table = parse_docker_table(text);
        assert_eq!(table.header, ["REPOSITORY", "TAG", "IMAGE ID", "SIZE"]);
        assert_eq!(table.column("IMAGE ID"), ["0123456789ab"]);
        assert_eq!(table.rows[0], ["app", "1", "0123456789ab", "5MB"]);
    }

    #[test]
    #[should_panic(expected = "not padded")]
    fn rejects_wrong_padding() {
        parse_docker_table("REPOSITORY     TAG\napp            1\n");
    }
}
