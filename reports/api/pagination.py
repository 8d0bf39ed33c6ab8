from rest_framework.pagination import CursorPagination


class ReportCursorPagination(CursorPagination):
    """Newest first; cursors stay stable while new reports arrive, unlike page numbers."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
