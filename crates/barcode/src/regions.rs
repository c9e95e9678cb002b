//! Where the labels are: parts of the sheet whose edges all run one way
//! (the bars of a bar code), found on a small copy, so that each can be
//! read again from a crop at full resolution, as a person looks closer at
//! a label. Text, plants and rulers have edges both ways; bars have them
//! across only.

/// A part of the sheet, in the sheet's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// The bars run across the sheet (a label printed sideways): the crop
    /// is read turned a quarter.
    pub sideways: bool,
}

/// The small copy is about this wide.
const LOOK_WIDTH: f32 = 1000.0;
/// Square cells of the small copy, in its pixels.
const CELL: usize = 6;
/// A cell is bar-like when its mean edge strength one way is at least
/// this (in grey levels per pixel) ...
const STRONG: u32 = 10;
/// ... and this many times the other way's.
const ONE_WAY: u32 = 3;
/// Fewer bar-like cells together are not a label.
const MIN_CELLS: usize = 3;
/// At most this many regions, the largest first.
const MAX_REGIONS: usize = 8;

/// The bar-code-like regions of a grey sheet (`width` × `height`, one
/// byte a pixel), largest first.
pub fn label_regions(width: u32, height: u32, grey: &[u8]) -> Vec<Region> {
    let factor = (LOOK_WIDTH / width.max(1) as f32).min(1.0);
    let (w, h, small) = crate::grey::shrink_grey(width, height, grey, factor);
    let (w, h) = (w as usize, h as usize);
    let (cols, rows) = (w / CELL, h / CELL);
    if cols == 0 || rows == 0 {
        return Vec::new();
    }
    // 0: nothing, 1: bars upright (edges across x), 2: bars sideways.
    let mut kind = vec![0u8; cols * rows];
    for cy in 0..rows {
        for cx in 0..cols {
            let (mut across, mut down) = (0u32, 0u32);
            for y in cy * CELL..(cy + 1) * CELL {
                for x in cx * CELL..(cx + 1) * CELL {
                    let p = i32::from(small[y * w + x]);
                    if x + 1 < w {
                        across += p.abs_diff(i32::from(small[y * w + x + 1]));
                    }
                    if y + 1 < h {
                        down += p.abs_diff(i32::from(small[(y + 1) * w + x]));
                    }
                }
            }
            let area = (CELL * CELL) as u32;
            kind[cy * cols + cx] = if across >= STRONG * area && across >= ONE_WAY * down {
                1
            } else if down >= STRONG * area && down >= ONE_WAY * across {
                2
            } else {
                0
            };
        }
    }
    let mut seen = vec![false; cols * rows];
    let mut found: Vec<(usize, Region)> = Vec::new();
    for start in 0..cols * rows {
        if kind[start] == 0 || seen[start] {
            continue;
        }
        // The cells of one kind joined to this one, side by side.
        let which = kind[start];
        let (mut left, mut right, mut top, mut bottom) = (cols, 0, rows, 0);
        let mut count = 0;
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(cell) = stack.pop() {
            let (cx, cy) = (cell % cols, cell / cols);
            count += 1;
            (left, right, top, bottom) = (left.min(cx), right.max(cx), top.min(cy), bottom.max(cy));
            let mut next = Vec::with_capacity(4);
            if cx > 0 {
                next.push(cell - 1);
            }
            if cx + 1 < cols {
                next.push(cell + 1);
            }
            if cy > 0 {
                next.push(cell - cols);
            }
            if cy + 1 < rows {
                next.push(cell + cols);
            }
            for n in next {
                if !seen[n] && kind[n] == which {
                    seen[n] = true;
                    stack.push(n);
                }
            }
        }
        // Many bars side by side, not one long edge (the paper's border,
        // a stem): the region is at least MIN_CELLS cells along its
        // reading direction and not much longer across it.
        let (along, across) = if which == 2 {
            (bottom - top + 1, right - left + 1)
        } else {
            (right - left + 1, bottom - top + 1)
        };
        if count < MIN_CELLS || along < MIN_CELLS || across > 2 * along {
            continue;
        }
        // Room around the bars: two cells along the reading direction (the
        // quiet zone and the end bars), one across.
        let sideways = which == 2;
        let (pad_x, pad_y) = if sideways { (1, 2) } else { (2, 1) };
        let to_sheet = |cells: usize| (cells as f32 * CELL as f32 / factor) as u32;
        let x0 = to_sheet(left.saturating_sub(pad_x));
        let y0 = to_sheet(top.saturating_sub(pad_y));
        let x1 = to_sheet((right + 1 + pad_x).min(cols + 1)).min(width);
        let y1 = to_sheet((bottom + 1 + pad_y).min(rows + 1)).min(height);
        if x1 <= x0 || y1 <= y0 {
            continue;
        }
        found.push((
            count,
            Region {
                x: x0,
                y: y0,
                width: x1 - x0,
                height: y1 - y0,
                sideways,
            },
        ));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().take(MAX_REGIONS).map(|(_, r)| r).collect()
}

/// The pixels of `region` of a grey sheet `width` wide.
pub fn crop(width: u32, grey: &[u8], region: &Region) -> Vec<u8> {
    let w = width as usize;
    let (x, width_r) = (region.x as usize, region.width as usize);
    grey.chunks_exact(w)
        .skip(region.y as usize)
        .take(region.height as usize)
        .flat_map(|row| &row[x..x + width_r])
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A white sheet with bars 6 px wide drawn in (600..900, 2000..2150):
    /// upright (alternating along x) or sideways (along y).
    fn sheet_with_bars(sideways: bool) -> (u32, u32, Vec<u8>) {
        let (w, h) = (2000u32, 3000u32);
        let mut grey = vec![235u8; (w * h) as usize];
        for y in 2000..2150u32 {
            for x in 600..900u32 {
                let along = if sideways { y } else { x };
                if (along / 6) % 2 == 0 {
                    grey[(y * w + x) as usize] = 20;
                }
            }
        }
        (w, h, grey)
    }

    #[test]
    fn bars_are_found_where_they_are_and_which_way_they_run() {
        for sideways in [false, true] {
            let (w, h, grey) = sheet_with_bars(sideways);
            let found = label_regions(w, h, &grey);
            // The largest is the label (the bars' ends may make a sliver).
            let r = *found.first().expect("the bars are found");
            assert_eq!(r.sideways, sideways, "{found:?}");
            assert!(r.x <= 600 && r.x + r.width >= 900, "{r:?}");
            assert!(r.y <= 2000 && r.y + r.height >= 2150, "{r:?}");
            assert!(r.width < 600 && r.height < 400, "a region, not the sheet: {r:?}");
        }
    }

    #[test]
    fn a_blank_sheet_has_no_labels_and_a_crop_is_its_rows() {
        let grey = vec![200u8; 1200 * 900];
        assert!(label_regions(1200, 900, &grey).is_empty());
        let ramp: Vec<u8> = (0..12u8).collect();
        let region = Region {
            x: 1,
            y: 1,
            width: 2,
            height: 2,
            sideways: false,
        };
        assert_eq!(crop(4, &ramp, &region), [5, 6, 9, 10]);
    }
}
