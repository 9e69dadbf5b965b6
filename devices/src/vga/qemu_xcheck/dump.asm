; Boot sector for the VGA cross-check against QEMU (see run.sh): sets a
; mode (MODE through INT 10h; MODEX: 13h unchained to 320x240; VBEBPP:
; DISPI 640x480 through the ports, filled through the banked window),
; draws a pattern, copies misc, SR0-4, CR0-18h, GR0-8, AR0-14h and the
; 256 DAC entries to 0x8000, and halts.
bits 16
org 0x7c00
  xor ax,ax
  mov ds,ax
  mov es,ax
  mov ss,ax
  mov sp,0x7c00
  mov ax,MODE
  int 10h
%ifdef VBEBPP
  mov dx,0x1ce
  mov ax,4
  out dx,ax
  inc dx
  xor ax,ax
  out dx,ax
  dec dx
  mov ax,1
  out dx,ax
  inc dx
  mov ax,640
  out dx,ax
  dec dx
  mov ax,2
  out dx,ax
  inc dx
  mov ax,480
  out dx,ax
  dec dx
  mov ax,3
  out dx,ax
  inc dx
  mov ax,VBEBPP
  out dx,ax
  dec dx
  mov ax,4
  out dx,ax
  inc dx
  mov ax,0x41
  out dx,ax
  ; bank 0 then bank 1: byte i of bank b = (i*7 + b*13) & 0xFF
  xor bx,bx
.bank:
  mov dx,0x1ce
  mov ax,5
  out dx,ax
  inc dx
  mov ax,bx
  out dx,ax
  mov ax,0xa000
  mov es,ax
  xor di,di
  mov cx,0
.fill:
  mov ax,di
  imul ax,ax,7
  push bx
  imul bx,bx,13
  add ax,bx
  pop bx
  stosb
  loop .fill
  inc bx
  cmp bx,2
  jb .bank
  xor ax,ax
  mov es,ax
%elifdef MODEX
  mov dx,0x3c4
  mov ax,0x0604
  out dx,ax
  mov dx,0x3c2
  mov al,0xe3
  out dx,al
  mov dx,0x3d4
  mov ax,0x2c11
  out dx,ax
  mov ax,0x0d06
  out dx,ax
  mov ax,0x3e07
  out dx,ax
  mov ax,0xea10
  out dx,ax
  mov ax,0xac11
  out dx,ax
  mov ax,0xdf12
  out dx,ax
  mov ax,0x0014
  out dx,ax
  mov ax,0xe715
  out dx,ax
  mov ax,0x0616
  out dx,ax
  mov ax,0xe317
  out dx,ax
  ; pixel (x,y) = (x*5 + y) & 0xFF for x < 320, y < 64, plane by plane
  mov ax,0xa000
  mov es,ax
  xor bx,bx          ; plane
.plane:
  mov dx,0x3c4
  mov al,2
  mov ah,1
  mov cl,bl
  shl ah,cl
  out dx,ax
  xor di,di
  xor si,si          ; y
.row:
  xor bp,bp          ; x/4
.col:
  mov ax,bp
  shl ax,2
  add ax,bx
  imul ax,ax,5
  add ax,si
  stosb
  inc bp
  cmp bp,80
  jb .col
  inc si
  cmp si,64
  jb .row
  inc bx
  cmp bx,4
  jb .plane
  xor ax,ax
  mov es,ax
%elif MODE == 3
  mov ah,1
  mov cx,0x2000
  int 10h
  mov ax,0xb800
  mov es,ax
  xor di,di
  mov cx,256
  mov ax,0x1700
.t: stosw
  inc al
  mov ah,al
  and ah,0x7F
  or ah,0x01
  loop .t
  xor ax,ax
  mov es,ax
%else
  ; pixels: row y (0..47), x (0..95): colour (x + y*3) & 0xFF
  xor dx,dx
.y: xor cx,cx
.x: mov ax,dx
  imul ax,ax,3
  add ax,cx
  mov ah,0x0C
  xor bx,bx
  int 10h
  inc cx
  cmp cx,96
  jb .x
  inc dx
  cmp dx,48
  jb .y
%endif
  ; dump registers at 0x8000: misc, SR0-4, CR0-18h, GR0-8, AR0-14h, DAC
  mov di,0x8000
  mov dx,0x3cc
  in al,dx
  stosb
  mov bl,al
  xor cx,cx
.sr: mov dx,0x3c4
  mov al,cl
  out dx,al
  inc dx
  in al,dx
  stosb
  inc cx
  cmp cx,5
  jb .sr
  mov si,0x3d4
  test bl,1
  jnz .c
  mov si,0x3b4
.c: xor cx,cx
.cr: mov dx,si
  mov al,cl
  out dx,al
  inc dx
  in al,dx
  stosb
  inc cx
  cmp cx,0x19
  jb .cr
  xor cx,cx
.gr: mov dx,0x3ce
  mov al,cl
  out dx,al
  inc dx
  in al,dx
  stosb
  inc cx
  cmp cx,9
  jb .gr
  xor cx,cx
.ar: mov dx,si
  add dx,6
  in al,dx
  mov dx,0x3c0
  mov al,cl
  or al,0x20
  out dx,al
  inc dx
  in al,dx
  stosb
  inc cx
  cmp cx,0x15
  jb .ar
  mov dx,si
  add dx,6
  in al,dx
  mov dx,0x3c0
  mov al,0x20
  out dx,al
  mov dx,0x3c7
  xor al,al
  out dx,al
  mov dx,0x3c9
  mov cx,768
.dac: in al,dx
  stosb
  loop .dac
  mov byte [0x9000],0x55
  cli
.h: hlt
  jmp .h
  times 510-($-$$) db 0
  dw 0xAA55
