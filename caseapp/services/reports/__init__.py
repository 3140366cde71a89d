"""Report services: periods, tables, view, small-cell suppression, exports, activities."""
