//! Where the guest's picture goes in the window: scaled with its aspect
//! ratio kept and centred, black bars on the two other sides (letterbox
//! or pillarbox); and the window size a new guest mode asks for, as
//! QEMU's SDL display resizes its window to the guest's resolution.

/// A rectangle in window pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: u32,
    pub h: u32,
}

/// The largest rectangle of `src`'s aspect ratio inside `dst`, centred.
/// Empty when either size is.
pub fn letterbox(src: (u32, u32), dst: (u32, u32)) -> Rect {
    let ((sw, sh), (dw, dh)) = ((u64::from(src.0), u64::from(src.1)), (u64::from(dst.0), u64::from(dst.1)));
    if sw == 0 || sh == 0 || dw == 0 || dh == 0 {
        return Rect { x: 0, y: 0, w: 0, h: 0 };
    }
    // Full width fits when dw/sw <= dh/sh, i.e. dw*sh <= dh*sw.
    let (w, h) = if dw * sh <= dh * sw { (dw, (dw * sh / sw).max(1)) } else { ((dh * sw / sh).max(1), dh) };
    // w <= dw and h <= dh, both from u32s: the casts are exact.
    Rect { x: ((dw - w) / 2) as i32, y: ((dh - h) / 2) as i32, w: w as u32, h: h as u32 }
}

/// The window size for a guest picture of `guest` pixels: the picture at
/// one window pixel per guest pixel, or scaled down with its aspect ratio
/// kept to fit `room` (the desktop's usable area) when it is larger.
pub fn window_size(guest: (u32, u32), room: Option<(u32, u32)>) -> (u32, u32) {
    let (gw, gh) = (guest.0.max(1), guest.1.max(1));
    match room {
        Some((rw, rh)) if rw > 0 && rh > 0 && (gw > rw || gh > rh) => {
            let r = letterbox((gw, gh), (rw, rh));
            (r.w, r.h)
        }
        _ => (gw, gh),
    }
}

/// Where a window of `size` at `pos` goes so that all of it is inside
/// `room` (the desktop's usable area) after the guest's mode grew it:
/// moved as little as possible, to the area's top or left edge when it
/// is larger than the area.
pub fn keep_inside(pos: (i32, i32), size: (u32, u32), room: Rect) -> (i32, i32) {
    let axis = |at: i32, len: u32, start: i32, room_len: u32| {
        let last = i64::from(start) + i64::from(room_len) - i64::from(len);
        // Between `start` and `at`, so an i32.
        i64::from(at).min(last).max(i64::from(start)) as i32
    };
    (axis(pos.0, size.0, room.x, room.w), axis(pos.1, size.1, room.y, room.h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_shape_fills_the_window() {
        assert_eq!(letterbox((640, 480), (640, 480)), Rect { x: 0, y: 0, w: 640, h: 480 });
        assert_eq!(letterbox((640, 480), (1280, 960)), Rect { x: 0, y: 0, w: 1280, h: 960 });
        assert_eq!(letterbox((640, 480), (320, 240)), Rect { x: 0, y: 0, w: 320, h: 240 });
    }

    #[test]
    fn a_wider_window_gets_bars_left_and_right() {
        // 4:3 in 16:9: height 1080, width 1080 * 4/3 = 1440, (1920-1440)/2 = 240 each side.
        assert_eq!(letterbox((640, 480), (1920, 1080)), Rect { x: 240, y: 0, w: 1440, h: 1080 });
        // 720x400 text mode (9:5) in 1000x400: width 720, bars of 140.
        assert_eq!(letterbox((720, 400), (1000, 400)), Rect { x: 140, y: 0, w: 720, h: 400 });
    }

    #[test]
    fn a_taller_window_gets_bars_above_and_below() {
        // 720x400 in 720x600: height 400, bars of 100.
        assert_eq!(letterbox((720, 400), (720, 600)), Rect { x: 0, y: 100, w: 720, h: 400 });
        // 1024x768 in 800x800: width 800, height 800*768/1024 = 600, bars of 100.
        assert_eq!(letterbox((1024, 768), (800, 800)), Rect { x: 0, y: 100, w: 800, h: 600 });
    }

    #[test]
    fn odd_sizes_round_down_and_stay_inside() {
        // 640x480 in 641x100: height 100, width 100*640/480 = 133 (133.3), x = (641-133)/2 = 254.
        assert_eq!(letterbox((640, 480), (641, 100)), Rect { x: 254, y: 0, w: 133, h: 100 });
        // An extreme shape keeps at least one pixel.
        assert_eq!(letterbox((u32::MAX, 1), (10, 10)), Rect { x: 0, y: 4, w: 10, h: 1 });
        for (src, dst) in [((1, u32::MAX), (7, 3)), ((u32::MAX, u32::MAX), (u32::MAX, 1)), ((3, 5), (u32::MAX, u32::MAX))] {
            let r = letterbox(src, dst);
            assert!(r.x >= 0 && r.y >= 0, "{r:?}");
            assert!(r.x as u64 + u64::from(r.w) <= u64::from(dst.0) && r.y as u64 + u64::from(r.h) <= u64::from(dst.1), "{r:?}");
        }
    }

    #[test]
    fn an_empty_picture_or_window_draws_nothing() {
        let none = Rect { x: 0, y: 0, w: 0, h: 0 };
        assert_eq!(letterbox((0, 0), (640, 480)), none);
        assert_eq!(letterbox((640, 480), (0, 480)), none);
    }

    #[test]
    fn the_window_takes_the_guest_size_unless_the_desktop_is_smaller() {
        assert_eq!(window_size((720, 400), Some((1280, 1024))), (720, 400));
        assert_eq!(window_size((1024, 768), None), (1024, 768));
        // 1920x1080 on a 1280x1024 desktop: width 1280, height 1280*1080/1920 = 720.
        assert_eq!(window_size((1920, 1080), Some((1280, 1024))), (1280, 720));
        // Too tall: 800x1200 in 1280x1000 -> height 1000, width 666.
        assert_eq!(window_size((800, 1200), Some((1280, 1000))), (666, 1000));
        assert_eq!(window_size((0, 0), Some((1280, 1024))), (1, 1));
    }

    #[test]
    fn a_grown_window_moves_back_inside_the_desktop() {
        let room = Rect { x: 0, y: 30, w: 1600, h: 970 };
        // 640x480 centred, then 1280x800 at the same corner: it would end at
        // (1760, 1060), past the area's (1600, 1000); moved left by 160 and
        // up by 60.
        assert_eq!(keep_inside((480, 260), (1280, 800), room), (320, 200));
        // A window that fits stays where the user put it.
        assert_eq!(keep_inside((100, 200), (640, 480), room), (100, 200));
        // Above or left of the area: moved in.
        assert_eq!(keep_inside((-50, 0), (640, 480), room), (0, 30));
        // Larger than the area: its top-left corner at the area's.
        assert_eq!(keep_inside((500, 500), (2000, 1200), room), (0, 30));
    }
}
