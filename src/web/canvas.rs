//! The page's canvases as a plotters backend drawn in CSS pixels.

use crate::plot;
use plotters::prelude::*;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontTransform,
};
use plotters_canvas::CanvasBackend;
use wasm_bindgen::JsCast;
use web_sys::HtmlCanvasElement;

/// A canvas drawn in CSS pixels. The page sizes a canvas's bitmap to its CSS size times the
/// device pixel ratio; this backend tells the charts the CSS size and sets the context's
/// transform to the ratio, so coordinates, line widths and text are all scaled to the device
/// together: text drawn at 11 px is 11 CSS px at any ratio, and sharp. Text sizes follow the
/// SVG and bitmap backends' convention (a style of size `s` draws at `s / 1.24` px), so the page
/// and its exports look alike.
pub struct CssCanvas {
    inner: CanvasBackend,
    size: (u32, u32),
}

impl CssCanvas {
    pub fn new(canvas: HtmlCanvasElement) -> Option<CssCanvas> {
        let (width, height) = (canvas.width(), canvas.height());
        let css_width = canvas.client_width();
        // A canvas not laid out (an export of a hidden chart) is drawn at ratio 1.
        let ratio = if css_width > 0 {
            (width as f64 / css_width as f64).max(0.25)
        } else {
            1.0
        };
        let context: web_sys::CanvasRenderingContext2d =
            canvas.get_context("2d").ok()??.dyn_into().ok()?;
        context
            .set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0)
            .ok()?;
        let size = (
            ((width as f64 / ratio).round() as u32).max(1),
            ((height as f64 / ratio).round() as u32).max(1),
        );
        Some(CssCanvas {
            inner: CanvasBackend::with_canvas_object(canvas)?,
            size,
        })
    }
}

/// A text style drawn at its size over [`plot::POINTS_PER_PIXEL`], as the other backends draw it.
struct Pixels<'a, T>(&'a T);

impl<T: BackendTextStyle> BackendTextStyle for Pixels<'_, T> {
    type FontError = T::FontError;
    fn color(&self) -> BackendColor {
        self.0.color()
    }
    fn size(&self) -> f64 {
        self.0.size() / plot::POINTS_PER_PIXEL
    }
    fn transform(&self) -> FontTransform {
        self.0.transform()
    }
    fn style(&self) -> plotters_backend::FontStyle {
        self.0.style()
    }
    fn anchor(&self) -> plotters_backend::text_anchor::Pos {
        self.0.anchor()
    }
    fn family(&self) -> plotters_backend::FontFamily<'_> {
        self.0.family()
    }
    fn layout_box(&self, text: &str) -> Result<((i32, i32), (i32, i32)), Self::FontError> {
        let ((x0, y0), (x1, y1)) = self.0.layout_box(text)?;
        let scale = |v: i32| (v as f64 / plot::POINTS_PER_PIXEL).round() as i32;
        Ok(((scale(x0), scale(y0)), (scale(x1), scale(y1))))
    }
    fn draw<E, F: FnMut(i32, i32, BackendColor) -> Result<(), E>>(
        &self,
        text: &str,
        pos: BackendCoord,
        draw: F,
    ) -> Result<Result<(), E>, Self::FontError> {
        self.0.draw(text, pos, draw)
    }
}

type CanvasResult = Result<(), DrawingErrorKind<<CanvasBackend as DrawingBackend>::ErrorType>>;

impl DrawingBackend for CssCanvas {
    type ErrorType = <CanvasBackend as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }
    fn ensure_prepared(&mut self) -> CanvasResult {
        self.inner.ensure_prepared()
    }
    fn present(&mut self) -> CanvasResult {
        self.inner.present()
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> CanvasResult {
        self.inner.draw_pixel(point, color)
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> CanvasResult {
        self.inner.draw_line(from, to, style)
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> CanvasResult {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> CanvasResult {
        self.inner.draw_path(path, style)
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> CanvasResult {
        self.inner.draw_circle(center, radius, style, fill)
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> CanvasResult {
        self.inner.fill_polygon(vertices, style)
    }
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> CanvasResult {
        self.inner.draw_text(text, &Pixels(style), pos)
    }
    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        self.inner.estimate_text_size(text, &Pixels(style))
    }
}

/// Either surface the page draws a chart on: a canvas, or SVG text (an export). One type, so the
/// charts' drawing code is compiled once into the wasm module instead of once per backend (which
/// cost 9 KB gzipped).
pub enum Surface<'a> {
    Canvas(CssCanvas),
    Svg(SVGBackend<'a>),
}

/// A drawing error from either surface, as its message.
#[derive(Debug)]
pub struct SurfaceError(String);

impl std::fmt::Display for SurfaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SurfaceError {}

type SurfaceResult = Result<(), DrawingErrorKind<SurfaceError>>;

/// A surface's error with its error type replaced by its message.
fn unify<E: std::error::Error + Send + Sync>(
    error: DrawingErrorKind<E>,
) -> DrawingErrorKind<SurfaceError> {
    match error {
        DrawingErrorKind::DrawingError(e) => {
            DrawingErrorKind::DrawingError(SurfaceError(e.to_string()))
        }
        DrawingErrorKind::FontError(e) => DrawingErrorKind::FontError(e),
    }
}

/// Calls the same method on whichever surface `self` is.
macro_rules! on_surface {
    ($self:ident, $backend:ident => $call:expr) => {
        match $self {
            Surface::Canvas($backend) => $call.map_err(unify),
            Surface::Svg($backend) => $call.map_err(unify),
        }
    };
}

impl DrawingBackend for Surface<'_> {
    type ErrorType = SurfaceError;

    fn get_size(&self) -> (u32, u32) {
        match self {
            Surface::Canvas(backend) => backend.get_size(),
            Surface::Svg(backend) => backend.get_size(),
        }
    }
    fn ensure_prepared(&mut self) -> SurfaceResult {
        on_surface!(self, backend => backend.ensure_prepared())
    }
    fn present(&mut self) -> SurfaceResult {
        on_surface!(self, backend => backend.present())
    }
    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> SurfaceResult {
        on_surface!(self, backend => backend.draw_pixel(point, color))
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> SurfaceResult {
        on_surface!(self, backend => backend.draw_line(from, to, style))
    }
    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> SurfaceResult {
        on_surface!(self, backend => backend.draw_rect(upper_left, bottom_right, style, fill))
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> SurfaceResult {
        on_surface!(self, backend => backend.draw_path(path, style))
    }
    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> SurfaceResult {
        on_surface!(self, backend => backend.draw_circle(center, radius, style, fill))
    }
    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vertices: I,
        style: &S,
    ) -> SurfaceResult {
        on_surface!(self, backend => backend.fill_polygon(vertices, style))
    }
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> SurfaceResult {
        on_surface!(self, backend => backend.draw_text(text, style, pos))
    }
    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        on_surface!(self, backend => backend.estimate_text_size(text, style))
    }
}
