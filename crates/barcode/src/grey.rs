//! Grey sheets as the reader's passes look at them: borrowed or made,
//! scaled down by averaging and turned a quarter.

use std::borrow::Cow;

/// A grey image, borrowed from the caller or made by a pass.
pub(crate) struct Grey<'a> {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) data: Cow<'a, [u8]>,
}

/// A grey image (one byte per pixel) scaled down by `factor`, as the
/// reader's passes do: (width, height, pixels).
pub fn shrink_grey(width: u32, height: u32, data: &[u8], factor: f32) -> (u32, u32, Vec<u8>) {
    let sheet = Grey {
        width,
        height,
        data: Cow::Borrowed(data),
    };
    let out = shrink(&sheet, factor);
    (out.width, out.height, out.data.into_owned())
}

/// A grey image turned a quarter clockwise: (width, height, pixels).
pub fn turn_grey(width: u32, height: u32, data: &[u8]) -> (u32, u32, Vec<u8>) {
    let sheet = Grey {
        width,
        height,
        data: Cow::Borrowed(data),
    };
    let out = turn(&sheet);
    (out.width, out.height, out.data.into_owned())
}

/// `sheet` scaled down by `factor` (0 < factor < 1), each output pixel
/// the mean of the source pixels it covers: bars keep their edges.
pub(crate) fn shrink<'a>(sheet: &Grey<'_>, factor: f32) -> Grey<'a> {
    let (w, h) = (sheet.width as usize, sheet.height as usize);
    let out_w = ((w as f32 * factor) as usize).max(1);
    let out_h = ((h as f32 * factor) as usize).max(1);
    // Source range [start, end) of each output column and row.
    let spans = |n: usize, out: usize| -> Vec<(usize, usize)> {
        (0..out)
            .map(|i| {
                let start = i * n / out;
                let end = ((i + 1) * n / out).max(start + 1).min(n);
                (start, end)
            })
            .collect()
    };
    let (columns, rows) = (spans(w, out_w), spans(h, out_h));
    let mut data = vec![0u8; out_w * out_h];
    let mut sums = vec![0u32; out_w];
    for (y, &(top, bottom)) in rows.iter().enumerate() {
        sums.iter_mut().for_each(|s| *s = 0);
        for row in sheet.data[top * w..bottom * w].chunks_exact(w) {
            for (sum, &(left, right)) in sums.iter_mut().zip(&columns) {
                *sum += row[left..right].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
        }
        let out = &mut data[y * out_w..(y + 1) * out_w];
        for ((pixel, sum), &(left, right)) in out.iter_mut().zip(&sums).zip(&columns) {
            let count = ((right - left) * (bottom - top)) as u32;
            *pixel = (sum / count.max(1)) as u8;
        }
    }
    Grey {
        width: out_w as u32,
        height: out_h as u32,
        data: Cow::Owned(data),
    }
}

/// A quarter turn clockwise.
pub(crate) fn turn<'a>(sheet: &Grey<'_>) -> Grey<'a> {
    let (w, h) = (sheet.width as usize, sheet.height as usize);
    let mut data = vec![0u8; w * h];
    for (y, row) in sheet.data.chunks_exact(w).enumerate() {
        for (x, &p) in row.iter().enumerate() {
            data[x * h + (h - 1 - y)] = p;
        }
    }
    Grey {
        width: h as u32,
        height: w as u32,
        data: Cow::Owned(data),
    }
}
