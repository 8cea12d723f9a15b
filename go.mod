module github.com/tetherdesk/tether

go 1.26
